#pragma once
// The number format a feed-forward style network computes in. Torch-free, so that
// configuration and command-line code can name it.
#include <string>

namespace flowstyle::models {

// Convolutions run in this format; instance-norm statistics, norm weights and the final
// tanh always stay float32.
//   Auto: a reduced format where it is fast on the device (float16 on CUDA; bfloat16 on a
//         CPU with native bfloat16 instructions, AVX512-BF16/AMX), else float32. The first
//         call runs the reduced format and float32 and keeps the reduced one only if the
//         RMS difference of their outputs is within FastNetworkOptions::tolerance.
//   Float32 / BFloat16 / Float16: exactly that, unchecked. float16 needs CUDA (LibTorch
//         has no float16 convolution on the CPU).
enum class Precision { Auto, Float32, BFloat16, Float16 };

// auto | float32 | bfloat16 | float16 (also fp32, bf16, fp16, half). Throws
// std::invalid_argument naming the value and the choices.
Precision parsePrecision(const std::string& name);
std::string toString(Precision precision);

}  // namespace flowstyle::models
