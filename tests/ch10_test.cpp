// Tests of ch10: written with the chapter.
#include <gtest/gtest.h>
