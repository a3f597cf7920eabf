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
#include <thread>
#include <utility>
#include <vector>

#include "lightloop/hw_models/node/memory_node.h"
#include "memnode/pool_allocator.h"
#include "timing.h"
#include "wire.h"

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
  uint32_t id = 0;       // within the process (a shared fabric names regions by domain and key)
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
  std::vector<uint64_t> table;  // FI_AV_TABLE: index -> GlobalEp(pid, ep) (0: removed)
  int refs = 0;
  // The endpoint behind `addr` as GlobalEp(pid, ep), 0 if it names none.
  uint64_t Resolve(fi_addr_t addr) const;
  fi_addr_t Reverse(uint64_t global_ep) const;
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
  uint64_t src_ep = 0;  // GlobalEp(pid, ep)
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
  LinkState link;  // this endpoint's link, both directions
};

// The fpga backend (board.cpp), on when FI_LIGHTLOOP_BOARD names a board:
// every region registered with remote access is placed in the board's memory
// (first fit, page aligned) and RMA to it becomes DMA descriptors through
// rtl_bridge's BoardDriver. Registration copies the buffer's bytes in (pages
// that are all zero on both sides are skipped), closing copies the pages the
// board wrote back out; in between the board holds the truth. On a board
// whose cycles are its time (the in-process virtual board) a DMA costs the
// board cycles it took at the board clock, in virtual time; on a board that
// runs by itself (pcie:, uio:) time is the wall clock: the DMA's own wall
// time, and the domain does not offer the virtual clock ops. Used with
// Sim::mu held (the driver is single-threaded).
class BoardMemory {
 public:
  // Throws rtl_bridge::BoardError naming the spec or the device.
  explicit BoardMemory(const std::string& spec);
  ~BoardMemory();
  const std::string& spec() const { return spec_; }
  uint64_t bytes() const;
  double clock_hz() const;
  bool virtual_time() const;
  void Attach(Mr* mr);
  void Detach(Mr* mr);
  // Whether bytes [offset, offset + len) of `mr` are inside board memory.
  bool InRange(const Mr& mr, uint64_t offset, uint64_t len) const;
  // One DMA each way; false (logged) if the board failed it. `*ps`: the board
  // time it took in virtual time, 0 on a wall-clock board.
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

struct Segment {
  uint8_t* p;
  size_t n;
};

// One operation handed to a shared fabric.
struct SharedOp {
  Ep* ep;
  WireOp op;
  std::vector<Segment> local;
  const fi_rma_iov* rma;  // RMA only
  size_t rma_count;
  uint64_t peer;  // GlobalEp
  uint64_t len;
  uint64_t flags;         // the completion's flags (FI_RMA | FI_WRITE, ...)
  uint64_t remote_flags;  // FI_REMOTE_CQ_DATA
  uint64_t data;
  void* context;
  bool wanted;  // a successful completion is reported
};

class Sim;

// The connection of this process to the fabric daemon (shared.cpp,
// shared_rx.cpp). Calls marked "Sim::mu" are made with it held; the
// receiver thread never takes it.
class SharedFabric {
 public:
  // Connects to the daemon at FabricdSocket(), starting one if none answers.
  static std::unique_ptr<SharedFabric> Connect(const std::string& config, TimeMode mode, TimingModel timing,
                                               double dilation, std::string* error);
  ~SharedFabric();
  TimeMode mode() const { return mode_; }
  uint64_t PacedNowPs() const;
  // Sim::mu (each waits for the daemon's answer).
  int OpenEp(uint32_t ep, uint32_t domain);
  void CloseEp(uint32_t ep);
  int RegMr(uint32_t domain, const Mr& mr);
  void CloseMr(uint32_t domain, uint64_t key);
  ssize_t PostOp(const SharedOp& op, uint64_t now_ps);
  void Drain(Sim& sim);        // turns what the daemon delivered into completions
  void Wait(uint64_t now_ps);  // virtual time: this process waits for a delivery
  int Advance(uint64_t t_ps);  // virtual: until everything due by t_ps is delivered

 private:
  struct PendingOp {
    uint32_t ep;
    WireOp op;
    std::vector<Segment> local;
    uint64_t slot, slot_len;
    void* context;
    uint64_t flags, len;
    bool wanted;
  };
  struct MrInfo {
    uint8_t* base;
    uint64_t len;
    uint64_t remote_base;
  };
  struct Delivery {
    WireMsg m;
    std::vector<uint8_t> bytes;  // kMsgIn: the message, copied out of the sender's segment
  };
  SharedFabric(int fd, TimeMode mode);
  bool MapSegment(std::string* error);
  uint8_t* PeerSegment(uint32_t pid);  // receiver thread
  WireMsg Call(WireMsg m);
  bool Send(const WireMsg& m);
  void Receive();
  int Copy(const WireMsg& m);
  void Ack(uint64_t token, int prov_err);
  void Queue(Delivery d);
  void Apply(Sim& sim, Delivery& d);
  void Complete(Sim& sim, uint64_t token, int prov_err, uint64_t t_ps);

  int fd_;
  TimeMode mode_;
  uint64_t start_ns_ = 0;
  double dilation_ = 1;
  uint8_t* seg_ = nullptr;
  std::thread receiver_;
  std::mutex send_mu_;
  std::mutex call_mu_;
  std::condition_variable call_cv_;
  std::map<uint64_t, WireMsg> replies_;  // guarded by call_mu_
  uint64_t next_call_ = 0;               // guarded by call_mu_
  bool dead_ = false;                    // guarded by call_mu_ (read racily by pollers)
  std::mutex mr_mu_;
  std::map<std::pair<uint32_t, uint64_t>, MrInfo> mrs_;  // (domain, key), guarded by mr_mu_
  std::map<uint32_t, uint8_t*> peers_;                   // receiver thread only
  std::mutex inbox_mu_;
  std::deque<Delivery> inbox_;  // guarded by inbox_mu_
  // Sim::mu:
  runtime::PoolAllocator alloc_{kSegmentBytes, 64};           // the staging segment's free space
  std::map<uint64_t, PendingOp> pending_;                     // token -> operation
  std::map<uint64_t, std::pair<uint32_t, Arrived>> arrived_;  // daemon token -> (ep, message)
  uint64_t next_token_ = 0;
  bool told_wait_ = false;
  uint64_t applied_ = 0;  // deliveries drained (the daemon's kDone, kRecvDone, kCqData)
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
  using Times = TransferTimes;
  // `addr`: where in its region the transfer starts (the TLM memory's address).
  Times Write(Ep* src, Ep* dst, uint64_t bytes, bool ok, uint64_t addr = 0);
  Times Read(Ep* src, Ep* dst, uint64_t bytes, bool ok, uint64_t addr = 0);
  // fpga backend: a transfer whose DMAs took `dma_ps` of board time, on the
  // board's one DMA engine (transfers queue in issue order).
  Times OnBoard(uint64_t dma_ps);

  const Timing& timing() const { return timing_; }
  BoardMemory* board() { return board_.get(); }  // null: the model's memory

  // In-process or shared (FI_LIGHTLOOP_FABRIC). Decided when the first
  // endpoint is enabled or an address is inserted: auto is in-process for a
  // program that opened the clock ops (lightloop's runtime), shared for any
  // other. `foreign_peer`: an address of another process is being inserted;
  // in auto mode an in-process fabric on which nothing has moved yet then
  // becomes shared (a client of a memnode process). Returns 0, or the error
  // of a shared fabric that cannot start.
  int DecideMode(bool foreign_peer = false);
  SharedFabric* shared() { return shared_.get(); }  // null: in-process
  bool clock_opened = false;                        // fi_open_ops(LIGHTLOOP_CLOCK_OPS_NAME) was called
  uint32_t next_domain = 1;

 private:
  Sim(Timing timing, std::unique_ptr<BoardMemory> board)
      : timing_(std::move(timing)), board_(std::move(board)) {}
  Timing timing_;
  std::unique_ptr<BoardMemory> board_;
  std::unique_ptr<SharedFabric> shared_;
  int mode_ = 0;  // 0 undecided, 1 in-process, 2 shared, <0 the error of a failed start
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
std::string FabricParam();  // auto | process | shared
std::string TimingParam();  // tlm | closed_form
std::string TimeParam();    // "" (by mode) | virtual | paced
double DilationParam();     // paced: wall seconds per simulated second
int64_t ProcsParam();
double ProcsTimeoutParam();    // seconds the daemon waits for them          // shared fabric: processes the
                               // daemon waits for (0: none)
std::string FabricdSocket();   // the daemon's socket
std::string FabricdProgram();  // the program that runs it ("": beside this library)

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
void FormatGlobalAddress(uint64_t global_ep, char* out);
// The endpoint in a peer address as GlobalEp(pid, ep), 0 if malformed.
uint64_t ParseAddress(const void* addr);
// A message that reached `target` at `t_ps`: into its oldest posted receive,
// or kept until one is posted (msg.cpp).
void ArriveMsg(Sim& sim, Ep* target, Arrived msg, uint64_t t_ps);

// The data movers (ep.cpp uses them; rma.cpp and msg.cpp implement them).
extern fi_ops_rma gRmaOps;
extern fi_ops_msg gMsgOps;
// A transmit's completion (or error) on `ep`'s tx CQ at `t_ps`.
void CompleteTx(Ep* ep, uint64_t t_ps, void* context, uint64_t flags, size_t len, int err, int prov_err,
                bool wanted);

// Scatter-gather lists (rma.cpp).
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
