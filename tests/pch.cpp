// The object the precompiled <torch/torch.h> of the test programs is made for (tests/CMakeLists.txt).
