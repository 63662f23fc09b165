// Tests of ch18: written with the chapter.
#include <gtest/gtest.h>
