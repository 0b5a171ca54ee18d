#include <gtest/gtest.h>
// placeholder: tests pending
