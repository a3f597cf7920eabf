// SPDX-License-Identifier: Apache-2.0
// Bytes really move between two endpoints of one process, in every form of
// the calls; refused accesses come back as error completions, not crashes.
#include <rdma/fi_tagged.h>

#include <cstring>
#include <numeric>
#include <vector>

#include "provider_fixture.h"

namespace lightloop::runtime::testing {
namespace {

constexpr uint64_t kRemote = FI_REMOTE_READ | FI_REMOTE_WRITE;

std::vector<uint8_t> Pattern(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(seed + i * 7);
  return v;
}

class ProviderTransfer : public ProviderTest {
 protected:
  void SetUp() override {
    ProviderTest::SetUp();
    a_ = OpenPeer();
    b_ = OpenPeer();
    a_to_b_ = Insert(a_, b_);
    b_to_a_ = Insert(b_, a_);
  }
  // Posts nothing; expects one successful completion with `context` on `cq`.
  void ExpectDone(fid_cq* cq, void* context, uint64_t flags) {
    fi_cq_data_entry e{};
    ASSERT_EQ(Poll(cq, &e), 1);
    EXPECT_EQ(e.op_context, context);
    EXPECT_EQ(e.flags & flags, flags);
  }
  Peer a_, b_;
  fi_addr_t a_to_b_ = 0, b_to_a_ = 0;
};

TEST_F(ProviderTransfer, WriteThenReadBack) {
  std::vector<uint8_t> src = Pattern(8192, 3), target(8192, 0), back(8192, 0);
  fid_mr* mr = Register(target.data(), target.size(), kRemote);
  int ctx_w = 0, ctx_r = 0;
  ASSERT_EQ(fi_write(a_.ep, src.data(), src.size(), nullptr, a_to_b_, RemoteAddr(mr, target.data(), 0),
                     fi_mr_key(mr), &ctx_w),
            0);
  ExpectDone(a_.cq, &ctx_w, FI_RMA | FI_WRITE);
  EXPECT_EQ(target, src);
  ASSERT_EQ(fi_read(a_.ep, back.data(), 4096, nullptr, a_to_b_, RemoteAddr(mr, target.data(), 4096),
                    fi_mr_key(mr), &ctx_r),
            0);
  ExpectDone(a_.cq, &ctx_r, FI_RMA | FI_READ);
  EXPECT_EQ(0, std::memcmp(back.data(), src.data() + 4096, 4096));
}

TEST_F(ProviderTransfer, VectorMsgAndInjectForms) {
  std::vector<uint8_t> target(256, 0), one = Pattern(100, 1), two = Pattern(28, 9);
  fid_mr* mr = Register(target.data(), target.size(), kRemote);
  iovec iov[2] = {{one.data(), one.size()}, {two.data(), two.size()}};
  int ctx = 0;
  ASSERT_EQ(fi_writev(a_.ep, iov, nullptr, 2, a_to_b_, RemoteAddr(mr, target.data(), 0), fi_mr_key(mr), &ctx),
            0);
  ExpectDone(a_.cq, &ctx, FI_WRITE);
  EXPECT_EQ(0, std::memcmp(target.data(), one.data(), 100));
  EXPECT_EQ(0, std::memcmp(target.data() + 100, two.data(), 28));

  std::vector<uint8_t> small = Pattern(16, 77);
  ASSERT_EQ(fi_inject_write(a_.ep, small.data(), small.size(), a_to_b_, RemoteAddr(mr, target.data(), 200),
                            fi_mr_key(mr)),
            0);
  std::vector<uint8_t> back(16, 0);
  iovec riov{back.data(), back.size()};
  fi_rma_iov rma{RemoteAddr(mr, target.data(), 200), 16, fi_mr_key(mr)};
  fi_msg_rma msg{&riov, nullptr, 1, a_to_b_, &rma, 1, &ctx, 0};
  ASSERT_EQ(fi_readmsg(a_.ep, &msg, FI_COMPLETION), 0);
  ExpectDone(a_.cq, &ctx, FI_READ);  // the inject gave no completion of its own
  EXPECT_EQ(back, small);
}

TEST_F(ProviderTransfer, SendRecvWithDataBothOrders) {
  std::vector<uint8_t> msg1 = Pattern(3000, 5), msg2 = Pattern(64, 11), in1(4096, 0), in2(64, 0);
  int rctx1 = 0, rctx2 = 0, sctx = 0;
  ASSERT_EQ(fi_recv(b_.ep, in1.data(), in1.size(), nullptr, FI_ADDR_UNSPEC, &rctx1), 0);  // posted first
  ASSERT_EQ(fi_send(a_.ep, msg1.data(), msg1.size(), nullptr, a_to_b_, &sctx), 0);
  ExpectDone(a_.cq, &sctx, FI_MSG | FI_SEND);
  fi_cq_data_entry e{};
  ASSERT_EQ(Poll(b_.cq, &e), 1);
  EXPECT_EQ(e.op_context, &rctx1);
  EXPECT_EQ(e.len, msg1.size());
  EXPECT_EQ(0, std::memcmp(in1.data(), msg1.data(), msg1.size()));

  ASSERT_EQ(fi_senddata(a_.ep, msg2.data(), msg2.size(), nullptr, 0xfeed, a_to_b_, &sctx), 0);  // unexpected
  ExpectDone(a_.cq, &sctx, FI_SEND);
  ASSERT_EQ(fi_recv(b_.ep, in2.data(), in2.size(), nullptr, FI_ADDR_UNSPEC, &rctx2), 0);
  fi_addr_t from = FI_ADDR_NOTAVAIL;
  ssize_t n = 0;
  for (int i = 0; i < 1000 && (n = fi_cq_readfrom(b_.cq, &e, 1, &from)) == -FI_EAGAIN; ++i) {
  }
  ASSERT_EQ(n, 1);
  EXPECT_EQ(e.op_context, &rctx2);
  EXPECT_EQ(e.flags & (FI_RECV | FI_REMOTE_CQ_DATA), FI_RECV | FI_REMOTE_CQ_DATA);
  EXPECT_EQ(e.data, 0xfeedu);
  EXPECT_EQ(from, b_to_a_);
  EXPECT_EQ(in2, msg2);

  ASSERT_EQ(fi_inject(a_.ep, msg2.data(), 8, a_to_b_), 0);
  ASSERT_EQ(fi_recv(b_.ep, in2.data(), in2.size(), nullptr, FI_ADDR_UNSPEC, &rctx2), 0);
  ExpectDone(b_.cq, &rctx2, FI_RECV);
}

TEST_F(ProviderTransfer, BadKeyIsAnErrorCompletion) {
  std::vector<uint8_t> target(4096, 0), src = Pattern(64, 2);
  fid_mr* mr = Register(target.data(), target.size(), kRemote);
  int ctx = 0;
  ASSERT_EQ(fi_write(a_.ep, src.data(), src.size(), nullptr, a_to_b_, RemoteAddr(mr, target.data(), 0),
                     fi_mr_key(mr) + 12345, &ctx),
            0);
  fi_cq_data_entry e{};
  ASSERT_EQ(Poll(a_.cq, &e), -FI_EAVAIL);
  fi_cq_err_entry err = ReadError(a_.cq);
  EXPECT_EQ(err.op_context, &ctx);
  EXPECT_EQ(err.err, FI_EACCES);
  EXPECT_NE(std::string(fi_cq_strerror(a_.cq, err.prov_errno, nullptr, nullptr, 0)).find("key"),
            std::string::npos);
  EXPECT_EQ(target, std::vector<uint8_t>(4096, 0));  // nothing written
}

TEST_F(ProviderTransfer, OutOfBoundsAndMissingAccessAreErrorCompletions) {
  std::vector<uint8_t> target(4096, 0), ro(64, 0), buf = Pattern(64, 4);
  fid_mr* mr = Register(target.data(), target.size(), kRemote);
  fid_mr* read_only = Register(ro.data(), ro.size(), FI_REMOTE_READ);
  struct Case {
    bool write;
    fid_mr* mr;
    uint64_t addr;
  } cases[] = {
      {true, mr, RemoteAddr(mr, target.data(), 4096 - 10)},  // runs past the end
      {false, mr, RemoteAddr(mr, target.data(), 4096)},      // starts at the end
      {true, read_only, RemoteAddr(read_only, ro.data(), 0)},
  };
  for (const Case& c : cases) {
    int ctx = 0;
    ssize_t ret = c.write ? fi_write(a_.ep, buf.data(), 64, nullptr, a_to_b_, c.addr, fi_mr_key(c.mr), &ctx)
                          : fi_read(a_.ep, buf.data(), 64, nullptr, a_to_b_, c.addr, fi_mr_key(c.mr), &ctx);
    ASSERT_EQ(ret, 0);
    fi_cq_data_entry e{};
    ASSERT_EQ(Poll(a_.cq, &e), -FI_EAVAIL);
    fi_cq_err_entry err = ReadError(a_.cq);
    EXPECT_EQ(err.op_context, &ctx);
    EXPECT_EQ(err.err, FI_EACCES);
  }
  EXPECT_EQ(target, std::vector<uint8_t>(4096, 0));
  EXPECT_EQ(ro, std::vector<uint8_t>(64, 0));
}

TEST_F(ProviderTransfer, ShortReceiveIsTruncated) {
  std::vector<uint8_t> msg = Pattern(100, 1), in(40, 0);
  int rctx = 0;
  ASSERT_EQ(fi_recv(b_.ep, in.data(), in.size(), nullptr, FI_ADDR_UNSPEC, &rctx), 0);
  ASSERT_EQ(fi_send(a_.ep, msg.data(), msg.size(), nullptr, a_to_b_, nullptr), 0);
  fi_cq_data_entry e{};
  ASSERT_EQ(Poll(b_.cq, &e), -FI_EAVAIL);
  fi_cq_err_entry err = ReadError(b_.cq);
  EXPECT_EQ(err.err, FI_ETRUNC);
  EXPECT_EQ(err.olen, 60u);
  EXPECT_EQ(0, std::memcmp(in.data(), msg.data(), 40));
}

TEST_F(ProviderTransfer, SReadWaitsForTheNextCompletion) {
  Peer c = OpenPeer(FI_CQ_FORMAT_CONTEXT, FI_AV_MAP, FI_WAIT_UNSPEC);
  fi_addr_t c_to_b = Insert(c, b_);
  std::vector<uint8_t> target(64, 0), src = Pattern(64, 8);
  fid_mr* mr = Register(target.data(), target.size(), kRemote);
  fi_cq_entry e{};
  EXPECT_EQ(fi_cq_sread(c.cq, &e, 1, nullptr, 10), -FI_EAGAIN);  // nothing in flight
  int ctx = 0;
  ASSERT_EQ(
      fi_write(c.ep, src.data(), 64, nullptr, c_to_b, RemoteAddr(mr, target.data(), 0), fi_mr_key(mr), &ctx),
      0);
  ASSERT_EQ(fi_cq_sread(c.cq, &e, 1, nullptr, 1000), 1);
  EXPECT_EQ(e.op_context, &ctx);
  EXPECT_EQ(target, src);
  EXPECT_EQ(fi_cq_sread(a_.cq, &e, 1, nullptr, 10), -FI_ENOSYS);  // FI_WAIT_NONE
}

TEST_F(ProviderTransfer, TaggedCallsAreNotSupported) {
  char byte = 0;
  EXPECT_EQ(fi_tsend(a_.ep, &byte, 1, nullptr, a_to_b_, 7, nullptr), -FI_ENOSYS);
  EXPECT_EQ(fi_trecv(b_.ep, &byte, 1, nullptr, FI_ADDR_UNSPEC, 7, 0, nullptr), -FI_ENOSYS);
}

TEST_F(ProviderTransfer, OffsetsAndUserKeysWithoutMrModes) {
  // A second domain negotiated without MR modes: keys are the caller's and
  // peers address a region by offset.
  fi_info* hints = LightloopHints();
  hints->domain_attr->mr_mode = 0;
  fi_info* info = nullptr;
  ASSERT_EQ(fi_getinfo(kVersion, nullptr, nullptr, 0, hints, &info), 0);
  fi_freeinfo(hints);
  fid_domain* dom = nullptr;
  ASSERT_EQ(fi_domain(fabric_, info, &dom, nullptr), 0);
  CloseAtEnd(&dom->fid);  // after the endpoint opened on it below
  std::vector<uint8_t> region(128, 0), src = Pattern(32, 6);
  fid_mr* mr = nullptr;
  ASSERT_EQ(fi_mr_reg(dom, region.data(), region.size(), kRemote, 0, 0xabcdef, 0, &mr, nullptr), 0);
  EXPECT_EQ(fi_mr_key(mr), 0xabcdefu);
  fid_mr* dup = nullptr;
  EXPECT_EQ(fi_mr_reg(dom, region.data(), 8, kRemote, 0, 0xabcdef, 0, &dup, nullptr), -FI_ENOKEY);
  {
    Peer c = OpenPeer(FI_CQ_FORMAT_CONTEXT, FI_AV_TABLE, FI_WAIT_NONE, dom, info);
    fi_addr_t a_to_c = Insert(a_, c);
    int ctx = 0;
    ASSERT_EQ(fi_write(a_.ep, src.data(), src.size(), nullptr, a_to_c, 64, 0xabcdef, &ctx), 0);  // offset 64
    ExpectDone(a_.cq, &ctx, FI_WRITE);
    EXPECT_EQ(0, std::memcmp(region.data() + 64, src.data(), src.size()));
    // A key of another domain does not open this endpoint's memory.
    std::vector<uint8_t> other(64, 0);
    fid_mr* foreign = Register(other.data(), other.size(), kRemote);
    ASSERT_EQ(fi_write(a_.ep, src.data(), 8, nullptr, a_to_c, RemoteAddr(foreign, other.data(), 0),
                       fi_mr_key(foreign), &ctx),
              0);
    fi_cq_data_entry e{};
    ASSERT_EQ(Poll(a_.cq, &e), -FI_EAVAIL);
    EXPECT_EQ(ReadError(a_.cq).err, FI_EACCES);
  }
  EXPECT_EQ(fi_close(&mr->fid), 0);
  fi_freeinfo(info);
}

}  // namespace
}  // namespace lightloop::runtime::testing
