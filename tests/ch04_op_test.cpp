// STUB
#include <gtest/gtest.h>
