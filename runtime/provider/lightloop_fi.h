// SPDX-License-Identifier: Apache-2.0
// Private to the lightloop libfabric provider (liblightloop-fi.so): the
// fabric objects and the simulated fabric behind them.
//
// Every object starts with its libfabric fid struct, so a `fid_*` pointer
// handed to the application converts back with ToImpl. All state of the
// process's one simulated fabric lives in Sim, behind Sim::mu: the provider
// is FI_THREAD_SAFE by holding that one lock in every call.
#pragma once

#include <rdma/fabric.h>
#include <rdma/fi_cm.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_endpoint.h>
#include <rdma/fi_eq.h>
#include <rdma/fi_errno.h>
#include <rdma/fi_rma.h>
#include <rdma/providers/fi_prov.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "lightloop/hw_models/node/memory_node.h"

namespace lightloop::rtl_bridge {
class BoardDriver;
}

namespace lightloop::fi {

inline constexpr const char* kFabricName = "lightloop-sim";
inline constexpr const char* kDomainName = "lightloop0";
inline constexpr uint32_t kProviderVersion = FI_VERSION(0, 1);
inline constexpr uint32_t kApiVersion = FI_VERSION(1, 17);
inline constexpr size_t kAddrLen = 40;  // "fi_lightloop://<pid>/<ep>", NUL padded
inline constexpr size_t kInjectSize = 4096;
inline constexpr size_t kMaxMsgSize = size_t{1} << 30;
inline constexpr size_t kIovLimit = 8;
inline constexpr size_t kQueueSize = 65536;  // advertised; the queues do not overrun
inline constexpr uint64_t kPrimaryCaps =
    FI_MSG | FI_RMA | FI_READ | FI_WRITE | FI_SEND | FI_RECV | FI_REMOTE_READ | FI_REMOTE_WRITE;
inline constexpr uint64_t kCaps = kPrimaryCaps | FI_LOCAL_COMM;
// MR modes the provider can work in; it needs none of them.
inline constexpr uint64_t kMrModes = FI_MR_VIRT_ADDR | FI_MR_PROV_KEY | FI_MR_ALLOCATED;

extern fi_provider gProvider;

// Provider-specific error numbers (fi_cq_err_entry::prov_errno).
// kBoardRange: the region is registered but its bytes lie beyond the board's
// memory (fpga backend); kBoardError: the board failed the DMA.
enum ProvErrno : int {
  kNoError = 0,
  kBadKey,
  kNoAccess,
  kOutOfBounds,
  kNoPeer,
  kTruncated,
  kCanceled,
  kBoardRange,
  kBoardError
};

struct Cq;
struct Domain;
struct Av;

struct Fabric {
  fid_fabric fid{};
  int refs = 0;  // domains and EQs open on it
};

struct Domain {
  fid_domain fid{};
  Fabric* fabric = nullptr;
  uint64_t mr_mode = 0;  // FI_MR_VIRT_ADDR / FI_MR_PROV_KEY as negotiated
  int refs = 0;          // endpoints, CQs, AVs, MRs
  // The node memory behind the domain's endpoints (one pool, however many
  // endpoints serve it): busy until then; guarded by Sim::mu.
  uint64_t mem_free_ps = 0;
};

struct Mr {
  fid_mr fid{};
  Domain* domain = nullptr;
  uint8_t* base = nullptr;
  size_t len = 0;
  uint64_t access = 0;
  uint64_t remote_base = 0;  // address a peer names byte 0 with
  // fpga backend: a region peers can reach lives in board memory from
  // board_base on (BoardMemory); its host buffer is stale until it closes.
  bool on_board = false;
  uint64_t board_base = 0;
};

struct Completion {
  fi_cq_err_entry entry{};
  bool error = false;
  fi_addr_t src_addr = FI_ADDR_NOTAVAIL;  // receives: the sender in the receiver's AV
};

struct Cq {
  fid_cq fid{};
  Domain* domain = nullptr;
  fi_cq_format format = FI_CQ_FORMAT_CONTEXT;
  size_t entry_size = 0;
  fi_wait_obj wait_obj = FI_WAIT_NONE;
  std::deque<Completion> ready;  // due by the virtual clock, guarded by Sim::mu
  size_t pending = 0;            // scheduled for it, not yet due; guarded by Sim::mu
  bool looked = false;           // the last fi_cq_read found nothing ready; guarded by Sim::mu
  uint64_t looked_epoch = 0;     // Sim::compute_epoch at that read
  int refs = 0;                  // endpoints bound to it
};

struct Av {
  fid_av fid{};
  Domain* domain = nullptr;
  fi_av_type type = FI_AV_TABLE;
  std::vector<uint32_t> table;  // FI_AV_TABLE: index -> endpoint id (0: removed)
  int refs = 0;
  // The endpoint id behind `addr`, 0 if it names none.
  uint32_t Resolve(fi_addr_t addr) const;
  fi_addr_t Reverse(uint32_t ep_id) const;
};

struct Eq {
  fid_eq fid{};
  Fabric* fabric = nullptr;
  struct Event {
    uint32_t type;
    std::vector<uint8_t> data;
  };
  std::deque<Event> events;  // guarded by Sim::mu
};

struct PostedRecv {
  std::vector<iovec> iov;
  void* context = nullptr;
  uint64_t flags = 0;
};

struct Arrived {  // a message that found no posted receive
  std::vector<uint8_t> bytes;
  uint32_t src_ep = 0;
  uint64_t arrival_ps = 0;
  uint64_t flags = 0;  // FI_REMOTE_CQ_DATA
  uint64_t data = 0;
};

struct Ep {
  fid_ep fid{};
  Domain* domain = nullptr;
  uint32_t id = 0;
  Av* av = nullptr;
  Cq* tx_cq = nullptr;
  Cq* rx_cq = nullptr;
  bool tx_selective = false, rx_selective = false;
  uint64_t tx_op_flags = 0, rx_op_flags = 0;
  bool enabled = false;
  std::deque<PostedRecv> recvs;
  std::deque<Arrived> unexpected;
  uint64_t out_free_ps = 0;  // this endpoint's link: toward the fabric
  uint64_t in_free_ps = 0;   // and back
};

// The link and memory timing of one node configuration, in picoseconds.
class Timing {
 public:
  explicit Timing(hw_models::NodeConfig node);
  const hw_models::LinkClosedForm& link() const { return link_; }
  // Time one direction of the link (all rails) is busy with `bytes`.
  uint64_t WireBusyPs(uint64_t bytes) const;
  // One transfer's flight over the link, serialization included.
  uint64_t FlightPs(uint64_t bytes) const;
  uint64_t MemoryLatencyPs(bool write, uint64_t bytes) const;
  uint64_t MemoryBusyPs(uint64_t bytes) const;  // 0 without a bandwidth limit
  // The idle-node closed form of one write (data, memory, ack) and one read.
  double WriteLatencyNs(uint64_t bytes) const;
  double ReadLatencyNs(uint64_t bytes) const;
  const std::string& file() const { return node_.file; }

 private:
  uint64_t Slice(uint64_t bytes) const;
  hw_models::NodeConfig node_;
  hw_models::LinkClosedForm link_;
  double busy_scale_;  // PayloadGBps / ExpectedGoodputGBps: credits and replays
};

// The fpga backend (board.cpp), on when FI_LIGHTLOOP_BOARD names a board:
// every region registered with remote access is placed in the board's memory
// (first fit, page aligned) and RMA to it becomes DMA descriptors through
// rtl_bridge's BoardDriver. Registration copies the buffer's bytes in (pages
// that are all zero on both sides are skipped), closing copies the pages the
// board wrote back out; in between the board holds the truth. A DMA costs the
// board cycles it took at the board clock. Used with Sim::mu held (the driver
// is single-threaded).
class BoardMemory {
 public:
  // Throws rtl_bridge::BoardError naming the spec or the device.
  explicit BoardMemory(const std::string& spec);
  ~BoardMemory();
  const std::string& spec() const { return spec_; }
  uint64_t bytes() const;
  double clock_hz() const;
  void Attach(Mr* mr);
  void Detach(Mr* mr);
  // Whether bytes [offset, offset + len) of `mr` are inside board memory.
  bool InRange(const Mr& mr, uint64_t offset, uint64_t len) const;
  // One DMA each way; false (logged) if the board failed it. `*ps`: the board
  // time it took.
  bool Write(uint64_t board_addr, const uint8_t* src, uint64_t len, uint64_t* ps);
  bool Read(uint64_t board_addr, uint8_t* dst, uint64_t len, uint64_t* ps);

 private:
  static constexpr uint64_t kPage = 4096;
  uint64_t Place(uint64_t len);
  uint64_t PsOf(uint64_t cycles) const;
  std::string spec_;
  std::unique_ptr<rtl_bridge::BoardDriver> driver_;
  std::map<uint64_t, uint64_t> used_;  // board base -> bytes (page rounded)
  std::vector<bool> dirty_;            // per board page: may hold non-zero bytes
};

// The process's simulated fabric: virtual clock, pending completions,
// endpoints and memory keys. Created from the node configuration on first use.
class Sim {
 public:
  // Null (with a log line) if the configuration does not load.
  static Sim* Get();
  std::mutex mu;
  std::condition_variable changed;  // new completions or events, for sread

  // All below: with `mu` held.
  uint64_t compute_epoch = 0;  // advance_ns calls so far: a caller computing is not waiting
  uint64_t now_ps() const { return now_ps_; }
  void AdvanceTo(uint64_t t_ps);
  // Delivers what is due. If the caller is `waiting` and `cq` has nothing
  // ready but completions of its own pending, jumps the clock to the next
  // pending completion anywhere (one step). A CQ with nothing pending never
  // moves the clock: its poller waits for something another caller has yet
  // to post, so several threads polling (a memnode's progress threads beside
  // a client) leave virtual time to the one whose transfers are in flight.
  void Progress(Cq* cq, bool waiting);
  void Schedule(uint64_t t_ps, Cq* cq, const Completion& c);
  void ForgetCq(Cq* cq);

  uint32_t AddEp(Ep* ep);
  void RemoveEp(Ep* ep);
  Ep* FindEp(uint32_t id) const;
  int AddMr(Mr* mr, uint64_t requested_key, bool prov_key);
  void RemoveMr(Mr* mr);
  Mr* FindMr(uint64_t key) const;

  // Virtual times of one transfer issued now, with the link of `src`
  // (toward the fabric for data and requests, back for read data) and the
  // memory behind `dst` queueing in issue order. `dst` null, or `ok` false:
  // the target refuses it (no memory access, a NAK instead of the ack).
  struct Times {
    uint64_t arrival_ps;  // the data is in the target's memory
    uint64_t done_ps;     // the initiator's completion
  };
  Times Write(Ep* src, Ep* dst, uint64_t bytes, bool ok);
  Times Read(Ep* src, Ep* dst, uint64_t bytes, bool ok);
  // fpga backend: a transfer whose DMAs took `dma_ps` of board time, on the
  // board's one DMA engine (transfers queue in issue order).
  Times OnBoard(uint64_t dma_ps);

  const Timing& timing() const { return timing_; }
  BoardMemory* board() { return board_.get(); }  // null: the model's memory

 private:
  Sim(Timing timing, std::unique_ptr<BoardMemory> board)
      : timing_(std::move(timing)), board_(std::move(board)) {}
  Timing timing_;
  std::unique_ptr<BoardMemory> board_;
  uint64_t board_free_ps_ = 0;
  uint64_t now_ps_ = 0;
  uint64_t seq_ = 0;
  struct Pending {
    Cq* cq;
    Completion c;
  };
  std::map<std::pair<uint64_t, uint64_t>, Pending> pending_;  // (time, seq)
  std::map<uint32_t, Ep*> eps_;
  uint32_t next_ep_ = 1;
  std::map<uint64_t, Mr*> mrs_;
  uint64_t next_key_ = 0x1000;
};

// Configuration (prov.cpp): the node file the fabric is built from, and the
// board spec of the fpga backend (empty: off).
std::string NodeConfigPath();
std::string BoardSpec();

// Object constructors (one file each).
int FabricOpen(fi_fabric_attr* attr, fid_fabric** fabric, void* context);
int DomainOpen(fid_fabric* fabric, fi_info* info, fid_domain** domain, void* context);
int EqOpen(fid_fabric* fabric, fi_eq_attr* attr, fid_eq** eq, void* context);
int CqOpen(fid_domain* domain, fi_cq_attr* attr, fid_cq** cq, void* context);
int AvOpen(fid_domain* domain, fi_av_attr* attr, fid_av** av, void* context);
int EpOpen(fid_domain* domain, fi_info* info, fid_ep** ep, void* context);
extern fi_ops_mr gMrOps;

// The address of endpoint `id` of this process, kAddrLen bytes.
void FormatAddress(uint32_t id, char* out);
// The endpoint id in a peer address, 0 if malformed or of another process.
uint32_t ParseAddress(const void* addr);

// The data movers (ep.cpp uses them; rma.cpp and msg.cpp implement them).
extern fi_ops_rma gRmaOps;
extern fi_ops_msg gMsgOps;
// A transmit's completion (or error) on `ep`'s tx CQ at `t_ps`.
void CompleteTx(Ep* ep, uint64_t t_ps, void* context, uint64_t flags, size_t len, int err, int prov_err,
                bool wanted);

// Scatter-gather lists (rma.cpp).
struct Segment {
  uint8_t* p;
  size_t n;
};
std::vector<Segment> Segments(const iovec* iov, size_t count);
size_t TotalBytes(const std::vector<Segment>& s);
// Copies min(total of dst, total of src) bytes; returns how many.
size_t CopySegments(const std::vector<Segment>& dst, const std::vector<Segment>& src);

// Generic "not supported" entries for ops tables.
int NoSys();
template <typename R, typename... A>
R NoSysFn(A...) {
  return -FI_ENOSYS;
}

template <typename T, typename F>
T* ToImpl(F* f) {
  return reinterpret_cast<T*>(f);
}

}  // namespace lightloop::fi
