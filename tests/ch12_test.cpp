// Tests of ch12: written with the chapter.
#include <gtest/gtest.h>
