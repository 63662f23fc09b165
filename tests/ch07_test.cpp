// Tests of ch07: written with the chapter.
#include <gtest/gtest.h>
