// STUB: to be written
#include "common/error.hpp"
int main() { common::fatal("not written yet"); }
