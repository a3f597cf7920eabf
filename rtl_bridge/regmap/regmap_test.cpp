// SPDX-License-Identifier: Apache-2.0
// The register map's generated artefacts agree with each other and with the
// checked-in reference.
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>

#include "lightloop/rtl_bridge/board_regs.h"

namespace lightloop::rtl_bridge::board_regs {
namespace {

std::string ReadFile(const char* path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(RegmapTest, TheCheckedInReferenceIsUpToDate) {
  std::string generated = ReadFile(LIGHTLOOP_REGMAP_GENERATED_MD);
  ASSERT_FALSE(generated.empty()) << LIGHTLOOP_REGMAP_GENERATED_MD;
  EXPECT_EQ(ReadFile(LIGHTLOOP_REGMAP_CHECKED_IN_MD), generated)
      << "docs/board-register-map.md differs from the text generated from rtl_bridge/regmap/board_regs.json; "
         "run `cmake --build build --target update_board_register_map`";
}

TEST(RegmapTest, HasTheRegistersTheDriverNeeds) {
  std::set<std::string_view> names;
  for (const RegisterInfo& r : kRegisters) names.insert(r.name);
  for (const char* n :
       {"ID",          "VERSION",       "CONTROL",      "STATUS",         "CRC_ERRORS",       "REPLAYS",
        "TX_FLITS",    "RX_FLITS",      "CYCLES",       "DOORBELL",       "IRQ_STATUS",       "IRQ_MASK",
        "DMA_CONTROL", "DMA_STATUS",    "RING_BASE_LO", "RING_BASE_HI",   "RING_SIZE",        "RING_HEAD",
        "RING_TAIL",   "DMA_COMPLETED", "DMA_ERRORS",   "DMA_BAD_LENGTH", "DMA_OUT_OF_RANGE", "DMA_MAX_LEN",
        "MEM_SIZE_LO", "MEM_SIZE_HI"}) {
    EXPECT_TRUE(names.contains(n)) << n;
  }
  EXPECT_EQ(kIdReset, 0x4C4C4B31u);
  EXPECT_EQ(control::kLinkEnableMask, 0x1u);
}

TEST(RegmapTest, OffsetsAreUniqueAlignedAndMasksMatchAccess) {
  std::set<uint32_t> offsets;
  for (const RegisterInfo& r : kRegisters) {
    EXPECT_TRUE(offsets.insert(r.offset).second) << r.name;
    EXPECT_EQ(r.offset % 4, 0u) << r.name;
    EXPECT_FALSE(r.doc.empty()) << r.name;
    if (r.access == Access::kRO) EXPECT_EQ(r.write_mask, 0u) << r.name;
    if (r.access != Access::kRO) EXPECT_EQ(r.reset & ~r.write_mask, 0u) << r.name;
  }
}

}  // namespace
}  // namespace lightloop::rtl_bridge::board_regs
