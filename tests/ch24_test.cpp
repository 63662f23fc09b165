// tests/ch24_test.cpp — placeholder; the chapter's tests land with its programs.
#include <gtest/gtest.h>
