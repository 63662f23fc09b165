// Tests of ch11: written with the chapter.
#include <gtest/gtest.h>
