// SPDX-License-Identifier: Apache-2.0
// Byte sizes as people write them: "4096", "64K", "64KiB", "2GiB", "1.5MB".
//
//   ParseSize("2GiB")   -> 2147483648
//   ParseSize("2GB")    -> 2000000000      (SI units are decimal)
//   ParseSize("2GB?")   -> INVALID_ARGUMENT naming the text
//   FormatSize(1 << 20) -> "1MiB"
//
// K, M, G, T and KiB, MiB, GiB, TiB are powers of 1024; KB, MB, GB, TB are
// powers of 1000; a bare number (or B suffix) is bytes. Case is ignored.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "lightloop/runtime/status.h"

namespace lightloop::runtime {

StatusOr<uint64_t> ParseSize(std::string_view text);
// The pieces of a comma-separated list, empty ones included, so that a
// caller can refuse them: "a,b" -> {a, b}; "a," -> {a, ""}; "" -> {""}.
std::vector<std::string_view> SplitCommas(std::string_view text);
// Comma-separated list: "4K,64K,1M".
StatusOr<std::vector<uint64_t>> ParseSizeList(std::string_view text);
// Shortest exact binary form ("64KiB", "1536B" stays "1536B" only if not a multiple).
std::string FormatSize(uint64_t bytes);

}  // namespace lightloop::runtime
