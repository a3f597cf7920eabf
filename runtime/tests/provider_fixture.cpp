// SPDX-License-Identifier: Apache-2.0
#include "provider_fixture.h"

#include <cstdlib>
#include <cstring>

namespace lightloop::runtime::testing {
namespace {

// Before main, so before libfabric loads its providers: find the one just
// built, and the default node preset the closed-form checks assume. These
// tests use the in-process fabric (a shared one has its own tests).
const bool kEnvironment = [] {
  setenv("FI_PROVIDER_PATH", LIGHTLOOP_FI_DIR, 1);
  setenv("FI_LIGHTLOOP_FABRIC", "process", 1);
  unsetenv("FI_LIGHTLOOP_CONFIG");
  unsetenv("FI_PROVIDER");
  return true;
}();

constexpr int kMaxEmptyPolls = 1000000;

}  // namespace

fi_info* LightloopHints() {
  fi_info* hints = fi_allocinfo();
  hints->caps = FI_MSG | FI_RMA;
  hints->ep_attr->type = FI_EP_RDM;
  hints->domain_attr->mr_mode =
      FI_MR_LOCAL | FI_MR_VIRT_ADDR | FI_MR_ALLOCATED | FI_MR_PROV_KEY | FI_MR_ENDPOINT;
  hints->fabric_attr->prov_name = strdup(LIGHTLOOP_PROVIDER_NAME);
  return hints;
}

void ProviderTest::SetUp() {
  ASSERT_TRUE(kEnvironment);
  fi_info* hints = LightloopHints();
  int ret = fi_getinfo(kVersion, nullptr, nullptr, 0, hints, &info_);
  fi_freeinfo(hints);
  ASSERT_EQ(ret, 0) << fi_strerror(-ret) << " (is " << LIGHTLOOP_FI_DIR << "/liblightloop-fi.so built?)";
  ASSERT_STREQ(info_->fabric_attr->prov_name, LIGHTLOOP_PROVIDER_NAME);
  ASSERT_EQ(fi_fabric(info_->fabric_attr, &fabric_, nullptr), 0);
  ASSERT_EQ(fi_domain(fabric_, info_, &domain_, nullptr), 0);
  ASSERT_EQ(
      fi_open_ops(&domain_->fid, LIGHTLOOP_CLOCK_OPS_NAME, 0, reinterpret_cast<void**>(&clock_), nullptr), 0);
}

void ProviderTest::TearDown() {
  for (auto it = to_close_.rbegin(); it != to_close_.rend(); ++it) EXPECT_EQ(fi_close(*it), 0);
  if (domain_ != nullptr) EXPECT_EQ(fi_close(&domain_->fid), 0);
  if (fabric_ != nullptr) EXPECT_EQ(fi_close(&fabric_->fid), 0);
  fi_freeinfo(info_);
}

Peer ProviderTest::OpenPeer(fi_cq_format format, fi_av_type av_type, fi_wait_obj wait, fid_domain* domain,
                            fi_info* info) {
  if (domain == nullptr) domain = domain_, info = info_;
  Peer p;
  fi_cq_attr cq_attr{};
  cq_attr.format = format;
  cq_attr.wait_obj = wait;
  EXPECT_EQ(fi_cq_open(domain, &cq_attr, &p.cq, nullptr), 0);
  fi_av_attr av_attr{};
  av_attr.type = av_type;
  EXPECT_EQ(fi_av_open(domain, &av_attr, &p.av, nullptr), 0);
  EXPECT_EQ(fi_endpoint(domain, info, &p.ep, nullptr), 0);
  to_close_.insert(to_close_.end(), {&p.cq->fid, &p.av->fid, &p.ep->fid});
  EXPECT_EQ(fi_ep_bind(p.ep, &p.av->fid, 0), 0);
  EXPECT_EQ(fi_ep_bind(p.ep, &p.cq->fid, FI_TRANSMIT | FI_RECV), 0);
  EXPECT_EQ(fi_enable(p.ep), 0);
  size_t len = 0;
  EXPECT_EQ(fi_getname(&p.ep->fid, nullptr, &len), -FI_ETOOSMALL);
  p.name.resize(len);
  EXPECT_EQ(fi_getname(&p.ep->fid, p.name.data(), &len), 0);
  return p;
}

fi_addr_t ProviderTest::Insert(const Peer& at, const Peer& whom) {
  fi_addr_t addr = FI_ADDR_NOTAVAIL;
  EXPECT_EQ(fi_av_insert(at.av, whom.name.data(), 1, &addr, 0, nullptr), 1);
  return addr;
}

fid_mr* ProviderTest::Register(void* buf, size_t len, uint64_t access) {
  fid_mr* mr = nullptr;
  EXPECT_EQ(fi_mr_reg(domain_, buf, len, access, 0, 0, 0, &mr, nullptr), 0);
  if (mr != nullptr) to_close_.push_back(&mr->fid);
  return mr;
}

uint64_t ProviderTest::RemoteAddr(fid_mr*, const void* buf, uint64_t offset) const {
  if (info_->domain_attr->mr_mode & FI_MR_VIRT_ADDR) return reinterpret_cast<uint64_t>(buf) + offset;
  return offset;
}

ssize_t ProviderTest::Poll(fid_cq* cq, fi_cq_data_entry* entry) {
  for (int i = 0; i < kMaxEmptyPolls; ++i) {
    ssize_t ret = fi_cq_read(cq, entry, 1);
    if (ret != -FI_EAGAIN) return ret;
  }
  ADD_FAILURE() << "no completion after " << kMaxEmptyPolls << " polls";
  return -FI_EAGAIN;
}

fi_cq_err_entry ProviderTest::ReadError(fid_cq* cq) {
  fi_cq_err_entry err{};
  EXPECT_EQ(fi_cq_readerr(cq, &err, 0), 1);
  return err;
}

uint64_t ProviderTest::NowPs() {
  return clock_->now_ps(&domain_->fid);
}

}  // namespace lightloop::runtime::testing

// libsystemc (through hw_models, for the closed forms) refers to sc_main;
// these tests never start a simulation.
extern "C" int sc_main(int, char**) {
  return 0;
}
