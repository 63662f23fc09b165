// Tests of ch14: written with the chapter.
#include <gtest/gtest.h>
