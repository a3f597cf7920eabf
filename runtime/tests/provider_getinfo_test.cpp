// SPDX-License-Identifier: Apache-2.0
// Discovery and the objects around the data path: fi_info lists the
// provider, fi_getinfo honours and refuses hints, names round-trip through
// the address vector, the clock ops and an event queue open, counters don't.
#include <unistd.h>

#include <array>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "provider_fixture.h"

namespace lightloop::runtime::testing {
namespace {

std::string RunCommand(const std::string& command, int* status) {
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return out;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) out.append(buf.data(), n);
  *status = pclose(pipe);
  return out;
}

int GetInfoWith(void (*edit)(fi_info*)) {
  fi_info* hints = LightloopHints();
  edit(hints);
  fi_info* info = nullptr;
  int ret = fi_getinfo(kVersion, nullptr, nullptr, 0, hints, &info);
  fi_freeinfo(hints);
  fi_freeinfo(info);
  return ret;
}

TEST(ProviderGetInfo, FiInfoListsTheProvider) {
  int status = -1;
  std::string out = RunCommand("FI_PROVIDER_PATH=" LIGHTLOOP_FI_DIR " fi_info -p lightloop 2>&1", &status);
  ASSERT_EQ(status, 0) << "fi_info (libfabric-bin) failed:\n" << out;
  EXPECT_NE(out.find("provider: lightloop"), std::string::npos) << out;
  EXPECT_NE(out.find("fabric: lightloop-sim"), std::string::npos) << out;
  EXPECT_NE(out.find("FI_EP_RDM"), std::string::npos) << out;
}

TEST(ProviderGetInfo, ConfigParameterChoosesTheNode) {
  int status = -1;
  const std::string prefix = "FI_PROVIDER_PATH=" LIGHTLOOP_FI_DIR " FI_LOG_LEVEL=warn ";
  std::string out =
      RunCommand(prefix + "FI_LIGHTLOOP_CONFIG=/no/such/node.yaml fi_info -p lightloop 2>&1", &status);
  EXPECT_NE(status, 0);
  EXPECT_EQ(out.find("provider: lightloop"), std::string::npos) << out;
  EXPECT_NE(out.find("cannot build the simulated fabric from /no/such/node.yaml"), std::string::npos) << out;
  const std::string other =
      (std::filesystem::path(LIGHTLOOP_DEFAULT_NODE_CONFIG).parent_path() / "pam4_fixed.yaml").string();
  out = RunCommand(prefix + "FI_LIGHTLOOP_CONFIG='" + other + "' fi_info -p lightloop 2>&1", &status);
  EXPECT_EQ(status, 0) << out;
  EXPECT_NE(out.find("provider: lightloop"), std::string::npos) << out;
  out = RunCommand(prefix + "fi_info -e 2>&1 | grep -a -A1 FI_LIGHTLOOP_CONFIG", &status);
  EXPECT_NE(out.find("hw_models node file"), std::string::npos) << out;
}

// The TLM timing calls b_transport outside any SystemC process: a node whose
// modules wait inside it is refused by name, and the closed forms take it;
// an unknown FI_LIGHTLOOP_TIMING is refused too.
TEST(ProviderGetInfo, TimingParameterAndNodesTheTlmTimingCannotTake) {
  const std::filesystem::path presets =
      std::filesystem::path(LIGHTLOOP_DEFAULT_NODE_CONFIG).parent_path().parent_path();
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("ll-timing-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  {
    std::ifstream in(presets / "memory" / "ddr5_4800.yaml");
    std::stringstream text;
    text << in.rdbuf();
    std::string memory = text.str();
    const std::string from = "fidelity: transaction";
    ASSERT_NE(memory.find(from), std::string::npos) << memory;
    memory.replace(memory.find(from), from.size(), "fidelity: command");
    std::ofstream(dir / "ddr5_command.yaml") << memory;
    std::ofstream(dir / "node.yaml") << "link: " << (presets / "links" / "optical_io_16x32g.yaml").string()
                                     << "\nmemory: " << (dir / "ddr5_command.yaml").string() << "\n";
  }
  int status = -1;
  const std::string prefix = "FI_PROVIDER_PATH=" LIGHTLOOP_FI_DIR " FI_LOG_LEVEL=warn FI_LIGHTLOOP_CONFIG='" +
                             (dir / "node.yaml").string() + "' ";
  std::string out = RunCommand(prefix + "fi_info -p lightloop 2>&1", &status);
  EXPECT_NE(status, 0);
  EXPECT_NE(
      out.find((dir / "node.yaml").string() +
               ": the memory's command-level fidelity waits inside b_transport, which the provider's TLM "
               "timing cannot (use fidelity: transaction, or FI_LIGHTLOOP_TIMING=closed_form)"),
      std::string::npos)
      << out;
  out = RunCommand(prefix + "FI_LIGHTLOOP_TIMING=closed_form fi_info -p lightloop 2>&1", &status);
  EXPECT_EQ(status, 0) << out;
  EXPECT_NE(out.find("provider: lightloop"), std::string::npos) << out;
  out = RunCommand("FI_PROVIDER_PATH=" LIGHTLOOP_FI_DIR
                   " FI_LOG_LEVEL=warn FI_LIGHTLOOP_TIMING=exact fi_info -p "
                   "lightloop 2>&1",
                   &status);
  EXPECT_NE(status, 0);
  EXPECT_NE(out.find("FI_LIGHTLOOP_TIMING: 'exact' is not tlm or closed_form"), std::string::npos) << out;
  std::filesystem::remove_all(dir);
}

TEST(ProviderGetInfo, OffersRdmWithMsgAndRma) {
  fi_info* hints = LightloopHints();
  fi_info* info = nullptr;
  ASSERT_EQ(fi_getinfo(kVersion, nullptr, nullptr, 0, hints, &info), 0);
  EXPECT_STREQ(info->fabric_attr->prov_name, "lightloop");
  EXPECT_EQ(info->ep_attr->type, FI_EP_RDM);
  EXPECT_EQ(info->caps & (FI_MSG | FI_RMA), FI_MSG | FI_RMA);
  EXPECT_EQ(info->addr_format, FI_ADDR_STR);
  // The provider keeps the MR modes it can use among those the hints allow.
  EXPECT_EQ(info->domain_attr->mr_mode, FI_MR_VIRT_ADDR | FI_MR_ALLOCATED | FI_MR_PROV_KEY);
  EXPECT_EQ(info->next, nullptr);
  fi_freeinfo(info);
  fi_freeinfo(hints);
}

TEST(ProviderGetInfo, WorksWithoutMrModes) {
  fi_info* hints = LightloopHints();
  hints->domain_attr->mr_mode = 0;  // the application supports none: offsets and its own keys
  fi_info* info = nullptr;
  ASSERT_EQ(fi_getinfo(kVersion, nullptr, nullptr, 0, hints, &info), 0);
  EXPECT_EQ(info->domain_attr->mr_mode, 0u);
  fi_freeinfo(info);
  fi_freeinfo(hints);
}

TEST(ProviderGetInfo, RefusesWhatItCannotDo) {
  EXPECT_EQ(GetInfoWith([](fi_info* h) { h->caps |= FI_TAGGED; }), -FI_ENODATA);
  EXPECT_EQ(GetInfoWith([](fi_info* h) { h->caps |= FI_ATOMIC; }), -FI_ENODATA);
  EXPECT_EQ(GetInfoWith([](fi_info* h) { h->ep_attr->type = FI_EP_MSG; }), -FI_ENODATA);
  EXPECT_EQ(GetInfoWith([](fi_info* h) { h->ep_attr->type = FI_EP_DGRAM; }), -FI_ENODATA);
  EXPECT_EQ(GetInfoWith([](fi_info* h) { h->domain_attr->data_progress = FI_PROGRESS_AUTO; }), -FI_ENODATA);
  EXPECT_EQ(GetInfoWith([](fi_info* h) { h->addr_format = FI_SOCKADDR_IN; }), -FI_ENODATA);
  EXPECT_EQ(GetInfoWith([](fi_info* h) { h->domain_attr->av_type = FI_AV_MAP; }), 0);
}

class ProviderObjects : public ProviderTest {};

TEST_F(ProviderObjects, NamesRoundTripThroughTableAndMap) {
  for (fi_av_type type : {FI_AV_TABLE, FI_AV_MAP}) {
    Peer a = OpenPeer(FI_CQ_FORMAT_CONTEXT, type);
    Peer b = OpenPeer(FI_CQ_FORMAT_CONTEXT, type);
    EXPECT_NE(a.name, b.name);
    fi_addr_t addr = Insert(a, b);
    ASSERT_NE(addr, FI_ADDR_NOTAVAIL);
    std::string back(b.name.size(), '\0');
    size_t len = back.size();
    ASSERT_EQ(fi_av_lookup(a.av, addr, back.data(), &len), 0);
    EXPECT_EQ(len, b.name.size());
    EXPECT_EQ(back, b.name);
  }
}

TEST_F(ProviderObjects, RejectsAddressesOfOtherProcesses) {
  Peer a = OpenPeer();
  char foreign[40] = {};
  std::snprintf(foreign, sizeof(foreign), "fi_lightloop://%08x/%08x", static_cast<unsigned>(getpid()) + 1,
                1u);
  fi_addr_t addr = 0;
  EXPECT_EQ(fi_av_insert(a.av, foreign, 1, &addr, 0, nullptr), 0);
  EXPECT_EQ(addr, FI_ADDR_NOTAVAIL);
}

TEST_F(ProviderObjects, ClockOpsEventQueueAndCounters) {
  void* ops = nullptr;
  EXPECT_EQ(fi_open_ops(&domain_->fid, "no_such_ops", 0, &ops, nullptr), -FI_ENOSYS);
  ASSERT_NE(clock(), nullptr);
  EXPECT_EQ(clock()->size, sizeof(fi_lightloop_clock_ops));
  uint64_t t0 = clock()->now_ns(&domain_->fid);
  EXPECT_EQ(clock()->advance_ns(&domain_->fid, 250), 0);
  EXPECT_EQ(clock()->now_ns(&domain_->fid), t0 + 250);
  EXPECT_EQ(clock()->advance_ns(&fabric_->fid, 1), -FI_EINVAL);

  fi_eq_attr eq_attr{};
  fid_eq* eq = nullptr;
  ASSERT_EQ(fi_eq_open(fabric_, &eq_attr, &eq, nullptr), 0);
  uint32_t event = 0;
  fi_eq_entry entry{};
  EXPECT_EQ(fi_eq_read(eq, &event, &entry, sizeof(entry), 0), -FI_EAGAIN);
  entry.context = &event;
  EXPECT_EQ(fi_eq_write(eq, FI_NOTIFY, &entry, sizeof(entry), 0), static_cast<ssize_t>(sizeof(entry)));
  fi_eq_entry got{};
  EXPECT_EQ(fi_eq_read(eq, &event, &got, sizeof(got), 0), static_cast<ssize_t>(sizeof(got)));
  EXPECT_EQ(event, static_cast<uint32_t>(FI_NOTIFY));
  EXPECT_EQ(got.context, &event);
  EXPECT_EQ(fi_close(&eq->fid), 0);

  fi_cntr_attr cntr_attr{};
  fid_cntr* cntr = nullptr;
  EXPECT_EQ(fi_cntr_open(domain_, &cntr_attr, &cntr, nullptr), -FI_ENOSYS);
}

}  // namespace
}  // namespace lightloop::runtime::testing
