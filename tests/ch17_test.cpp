// Tests of ch17: written with the chapter.
#include <gtest/gtest.h>
