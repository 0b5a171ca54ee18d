# Included by the top-level CMakeLists.txt and by tools/gpu_check/CMakeLists.txt (standalone).
#
# LibTorch: Debian's libtorch-dev (1.13, CPU) by default, or another one (the `torch` wheel's,
# 2.x with CUDA: tools/setup.sh --torch pypi) through -DTorch_DIR=<prefix>/share/cmake/Torch.
# TorchConfig.cmake finds Caffe2 (the targets torch_cpu, torch_cuda, c10 ...) with
# find_package(Caffe2 PATHS <its folder>/../Caffe2) and libc10 with find_library(... PATHS
# <its prefix>/lib), and both look in the system folders first: with Debian's libtorch-dev
# installed, a build against another LibTorch would link Debian's libraries too. Pin them
# to Torch_DIR's own.
if(Torch_DIR)
  if(EXISTS "${Torch_DIR}/../Caffe2/Caffe2Config.cmake")
    get_filename_component(_flowstyle_caffe2 "${Torch_DIR}/../Caffe2" ABSOLUTE)
    set(Caffe2_DIR "${_flowstyle_caffe2}" CACHE PATH "Caffe2 of the LibTorch at Torch_DIR" FORCE)
  endif()
  get_filename_component(_flowstyle_torch_prefix "${Torch_DIR}/../../.." ABSOLUTE)
  find_library(c10_LIBRARY c10 PATHS "${_flowstyle_torch_prefix}/lib" NO_DEFAULT_PATH)
  find_library(TORCH_LIBRARY torch PATHS "${_flowstyle_torch_prefix}/lib" NO_DEFAULT_PATH)
endif()
find_package(Torch REQUIRED)
foreach(_flowstyle_lib Caffe2_DIR c10_LIBRARY TORCH_LIBRARY)
  string(FIND "${${_flowstyle_lib}}" "${TORCH_INSTALL_PREFIX}/" _flowstyle_at)
  if(${_flowstyle_lib} AND NOT _flowstyle_at EQUAL 0)
    message(FATAL_ERROR "${_flowstyle_lib} is ${${_flowstyle_lib}}, outside the LibTorch found at "
      "${TORCH_INSTALL_PREFIX}: mixing two LibTorch builds. Configure a fresh build folder with "
      "-DTorch_DIR=${TORCH_INSTALL_PREFIX}/share/cmake/Torch.")
  endif()
endforeach()
message(STATUS "LibTorch ${Torch_VERSION} at ${TORCH_INSTALL_PREFIX}")

# Torch's imported targets carry flags (ABI define); keep its headers quiet.
add_library(flowstyle_torch INTERFACE)
target_link_libraries(flowstyle_torch INTERFACE ${TORCH_LIBRARIES})
target_include_directories(flowstyle_torch SYSTEM INTERFACE ${TORCH_INCLUDE_DIRS})

# The torch wheel's libtorch.so exports its own copy of std::filesystem (remove_all,
# equivalent, create_directory, ...). Executables list libstdc++ after libtorch, so those
# copies interposed libstdc++'s, and std::filesystem::remove_all crashed (a null call) in a
# 2.x build. Name libstdc++ first in every executable's needed libraries: its definitions win.
add_link_options("LINKER:--push-state,--no-as-needed" "-lstdc++" "LINKER:--pop-state")
