// Tests of ch06: written with the chapter.
#include <gtest/gtest.h>
