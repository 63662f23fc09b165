// tests/support/netns.hpp — private network namespaces for tests (ch14, packet capture).
#pragma once
