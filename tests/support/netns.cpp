#include "netns.hpp"
