// SPDX-License-Identifier: Apache-2.0
#include "lightloop/workloads/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

static_assert(std::endian::native == std::endian::little, "safetensors is little-endian; so is this reader");

namespace lightloop::workloads {
namespace {

namespace rt = lightloop::runtime;
using nlohmann::json;

// A read-only mapping of a whole file, unmapped on destruction.
class MappedFile {
 public:
  static rt::StatusOr<std::unique_ptr<MappedFile>> Open(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return rt::NotFound(path + ": cannot open: " + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      ::close(fd);
      return rt::Internal(path + ": fstat: " + std::strerror(errno));
    }
    auto file = std::unique_ptr<MappedFile>(new MappedFile());
    file->size_ = static_cast<uint64_t>(st.st_size);
    if (file->size_ > 0) {
      void* p = ::mmap(nullptr, file->size_, PROT_READ, MAP_PRIVATE, fd, 0);
      if (p == MAP_FAILED) file->size_ = 0;
      file->data_ = p == MAP_FAILED ? nullptr : static_cast<const unsigned char*>(p);
    }
    ::close(fd);
    if (st.st_size > 0 && file->data_ == nullptr) return rt::Internal(path + ": mmap failed");
    return file;
  }
  ~MappedFile() {
    if (data_ != nullptr) ::munmap(const_cast<unsigned char*>(data_), size_);
  }
  const unsigned char* data() const { return data_; }
  uint64_t size() const { return size_; }

 private:
  MappedFile() = default;
  const unsigned char* data_ = nullptr;
  uint64_t size_ = 0;
};

rt::StatusOr<Dtype> ParseDtype(const std::string& name, const std::string& where) {
  if (name == "F32") return Dtype::kF32;
  if (name == "F16") return Dtype::kF16;
  if (name == "BF16") return Dtype::kBF16;
  return rt::Unimplemented(where + ": dtype '" + name + "' is not supported (F32, F16 or BF16)");
}

// One header entry, checked against the data section's size.
struct Entry {
  std::string name;
  Dtype dtype = Dtype::kF32;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;  // in the data section
};

rt::StatusOr<std::vector<int64_t>> ParseShape(const json& j, const std::string& where) {
  if (!j.is_array()) return rt::InvalidArgument(where + ": 'shape' must be an array");
  std::vector<int64_t> shape;
  for (const json& d : j) {
    if (!d.is_number_integer() || d.get<int64_t>() < 0) {
      return rt::InvalidArgument(where + ": 'shape' must hold non-negative integers");
    }
    shape.push_back(d.get<int64_t>());
  }
  return shape;
}

// The shape's element count times the dtype size, or an error on overflow.
rt::StatusOr<uint64_t> ShapeBytes(const std::vector<int64_t>& shape, Dtype dtype, const std::string& where) {
  unsigned __int128 bytes = static_cast<unsigned __int128>(DtypeBytes(dtype));
  for (int64_t d : shape) {
    bytes *= static_cast<uint64_t>(d);
    if (bytes > (static_cast<unsigned __int128>(1) << 62))
      return rt::InvalidArgument(where + ": shape too large");
  }
  return static_cast<uint64_t>(bytes);
}

rt::StatusOr<Entry> ParseEntry(const std::string& name, const json& j, uint64_t data_bytes,
                               const std::string& path) {
  const std::string where = path + ": tensor '" + name + "'";
  if (!j.is_object()) return rt::InvalidArgument(where + ": entry must be an object");
  if (!j.contains("dtype") || !j["dtype"].is_string())
    return rt::InvalidArgument(where + ": 'dtype' missing");
  Entry e;
  e.name = name;
  LL_ASSIGN_OR_RETURN(e.dtype, ParseDtype(j["dtype"].get<std::string>(), where));
  if (!j.contains("shape")) return rt::InvalidArgument(where + ": 'shape' missing");
  LL_ASSIGN_OR_RETURN(e.shape, ParseShape(j["shape"], where));
  const json* offsets = j.contains("data_offsets") ? &j["data_offsets"] : nullptr;
  if (offsets == nullptr || !offsets->is_array() || offsets->size() != 2 ||
      !(*offsets)[0].is_number_unsigned() || !(*offsets)[1].is_number_unsigned()) {
    return rt::InvalidArgument(where + ": 'data_offsets' must be two non-negative integers");
  }
  e.begin = (*offsets)[0].get<uint64_t>();
  e.end = (*offsets)[1].get<uint64_t>();
  if (e.begin > e.end || e.end > data_bytes) {
    return rt::OutOfRange(where + ": data_offsets [" + std::to_string(e.begin) + ", " +
                          std::to_string(e.end) + ") outside the " + std::to_string(data_bytes) +
                          "-byte data section");
  }
  LL_ASSIGN_OR_RETURN(uint64_t want, ShapeBytes(e.shape, e.dtype, where));
  if (want != e.end - e.begin) {
    return rt::InvalidArgument(where + ": shape needs " + std::to_string(want) + " bytes of " +
                               DtypeName(e.dtype) + ", data_offsets give " + std::to_string(e.end - e.begin));
  }
  return e;
}

// Tensors may not share bytes.
rt::Status CheckNoOverlap(std::vector<Entry>& entries, const std::string& path) {
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  for (size_t i = 1; i < entries.size(); ++i) {
    if (entries[i].begin < entries[i - 1].end) {
      return rt::InvalidArgument(path + ": tensor '" + entries[i].name + "' overlaps tensor '" +
                                 entries[i - 1].name + "'");
    }
  }
  return rt::Status::Ok();
}

void Convert(const unsigned char* src, Dtype dtype, float* dst, size_t n) {
  if (n == 0) return;  // an empty tensor's data() may be null
  if (dtype == Dtype::kF32) {
    std::memcpy(dst, src, n * sizeof(float));
    return;
  }
  for (size_t i = 0; i < n; ++i) {
    uint16_t h;
    std::memcpy(&h, src + 2 * i, 2);
    dst[i] = dtype == Dtype::kBF16 ? Bf16ToFloat(h) : F16ToFloat(h);
  }
}

// The header of a mapped file: its entries, and where the data section starts.
rt::StatusOr<std::vector<Entry>> ParseHeader(const MappedFile& file, const std::string& path,
                                             uint64_t* data_start) {
  if (file.size() < 8)
    return rt::InvalidArgument(path + ": " + std::to_string(file.size()) + " bytes, no header");
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | file.data()[i];
  if (header_len > file.size() - 8) {
    return rt::OutOfRange(path + ": header length " + std::to_string(header_len) + " beyond the file's " +
                          std::to_string(file.size()) + " bytes");
  }
  const char* text = reinterpret_cast<const char*>(file.data() + 8);
  json header = json::parse(text, text + header_len, nullptr, false);
  if (header.is_discarded() || !header.is_object()) {
    return rt::InvalidArgument(path + ": header is not a JSON object");
  }
  *data_start = 8 + header_len;
  std::vector<Entry> entries;
  for (const auto& [name, value] : header.items()) {
    if (name == "__metadata__") continue;
    LL_ASSIGN_OR_RETURN(Entry e, ParseEntry(name, value, file.size() - *data_start, path));
    entries.push_back(std::move(e));
  }
  LL_RETURN_IF_ERROR(CheckNoOverlap(entries, path));
  return entries;
}

std::string HeaderJson(const TensorMap& tensors, Dtype dtype) {
  json header = json::object();
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    uint64_t bytes = t.data.size() * static_cast<uint64_t>(DtypeBytes(dtype));
    header[name] = {
        {"dtype", DtypeName(dtype)}, {"shape", t.shape}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  header["__metadata__"] = {{"format", "pt"}};
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // the data section starts 8-byte aligned
  return text;
}

void AppendTensor(const Tensor& t, Dtype dtype, std::string& out) {
  if (dtype == Dtype::kF32) {
    out.append(reinterpret_cast<const char*>(t.data.data()), t.data.size() * sizeof(float));
    return;
  }
  for (float f : t.data) {
    uint16_t h = dtype == Dtype::kBF16 ? FloatToBf16(f) : FloatToF16(f);
    char bytes[2] = {static_cast<char>(h & 0xff), static_cast<char>(h >> 8)};
    out.append(bytes, 2);
  }
}

rt::Status WriteFileAtomically(const std::string& path, const std::string& bytes) {
  const std::string tmp = path + ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "wb");
  if (f == nullptr) return rt::PermissionDenied(tmp + ": cannot create: " + std::strerror(errno));
  bool ok = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
  ok = std::fflush(f) == 0 && ok;
  ok = ::fsync(::fileno(f)) == 0 && ok;
  ok = std::fclose(f) == 0 && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::string why = std::strerror(errno);
    std::remove(tmp.c_str());
    return rt::Internal(path + ": write failed: " + why);
  }
  return rt::Status::Ok();
}

rt::StatusOr<TensorMap> ReadSharded(const std::string& index_path) {
  std::ifstream in(index_path);
  if (!in) return rt::NotFound(index_path + ": cannot open");
  json index = json::parse(in, nullptr, false);
  if (index.is_discarded() || !index.is_object() || !index.contains("weight_map") ||
      !index["weight_map"].is_object()) {
    return rt::InvalidArgument(index_path + ": key 'weight_map' missing or not an object");
  }
  std::map<std::string, std::set<std::string>> by_file;
  for (const auto& [name, file] : index["weight_map"].items()) {
    if (!file.is_string())
      return rt::InvalidArgument(index_path + ": weight_map['" + name + "'] is not a file");
    by_file[file.get<std::string>()].insert(name);
  }
  const std::filesystem::path dir = std::filesystem::path(index_path).parent_path();
  TensorMap all;
  for (const auto& [file, names] : by_file) {
    const std::string shard = (dir / file).string();
    LL_ASSIGN_OR_RETURN(TensorMap tensors, ReadSafetensors(shard));
    for (const std::string& name : names) {
      auto it = tensors.find(name);
      if (it == tensors.end()) {
        return rt::NotFound(index_path + ": tensor '" + name + "' is mapped to " + file + ", which lacks it");
      }
      all[name] = std::move(it->second);
    }
  }
  return all;
}

}  // namespace

const char* DtypeName(Dtype dtype) {
  switch (dtype) {
    case Dtype::kF32: return "F32";
    case Dtype::kF16: return "F16";
    case Dtype::kBF16: return "BF16";
  }
  return "?";
}

int64_t DtypeBytes(Dtype dtype) {
  return dtype == Dtype::kF32 ? 4 : 2;
}

int64_t Tensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

float F16ToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exponent = (h >> 10) & 0x1fu, mantissa = h & 0x3ffu;
  if (exponent == 0) {  // zero or subnormal: mantissa * 2^-24, exact in float
    float magnitude = static_cast<float>(mantissa) * 0x1p-24f;
    return std::bit_cast<float>(std::bit_cast<uint32_t>(magnitude) | sign);
  }
  if (exponent == 31) return std::bit_cast<float>(sign | 0x7f800000u | (mantissa << 13));
  return std::bit_cast<float>(sign | ((exponent + 112) << 23) | (mantissa << 13));
}

// After F. Giesen's float_to_half_fast3_rtne: subnormal results come from a
// float addition that aligns the mantissa (rounding to nearest even), normal
// ones from an integer rounding bias.
uint16_t FloatToF16(float f) {
  uint32_t u = std::bit_cast<uint32_t>(f);
  const uint32_t sign = u & 0x80000000u;
  u ^= sign;
  uint16_t out;
  if (u >= 0x47800000u) {  // |f| >= 65536 (or inf/NaN): inf, or a quiet NaN
    out = u > 0x7f800000u ? 0x7e00 : 0x7c00;
  } else if (u < 0x38800000u) {  // below 2^-14: subnormal or zero
    const float denorm_magic = std::bit_cast<float>(((127 - 15) + (23 - 10) + 1) << 23);
    out = static_cast<uint16_t>(std::bit_cast<uint32_t>(std::bit_cast<float>(u) + denorm_magic) -
                                std::bit_cast<uint32_t>(denorm_magic));
  } else {
    const uint32_t mantissa_odd = (u >> 13) & 1u;
    u += (static_cast<uint32_t>(15 - 127) << 23) + 0xfffu + mantissa_odd;
    out = static_cast<uint16_t>(u >> 13);  // 65520 and above round up to 0x7c00, inf
  }
  return static_cast<uint16_t>(out | (sign >> 16));
}

rt::StatusOr<TensorMap> ReadSafetensors(const std::string& path) {
  LL_ASSIGN_OR_RETURN(std::unique_ptr<MappedFile> file, MappedFile::Open(path));
  uint64_t data_start = 0;
  LL_ASSIGN_OR_RETURN(std::vector<Entry> entries, ParseHeader(*file, path, &data_start));
  TensorMap tensors;
  for (const Entry& e : entries) {
    Tensor& t = tensors[e.name];
    t.shape = e.shape;
    t.data.resize((e.end - e.begin) / static_cast<uint64_t>(DtypeBytes(e.dtype)));
    Convert(file->data() + data_start + e.begin, e.dtype, t.data.data(), t.data.size());
  }
  return tensors;
}

rt::StatusOr<TensorMap> ReadSafetensorsDir(const std::string& dir) {
  const std::filesystem::path d(dir);
  if (std::filesystem::exists(d / "model.safetensors.index.json")) {
    return ReadSharded((d / "model.safetensors.index.json").string());
  }
  return ReadSafetensors((d / "model.safetensors").string());
}

rt::Status WriteSafetensors(const std::string& path, const TensorMap& tensors, Dtype dtype) {
  for (const auto& [name, t] : tensors) {
    if (t.numel() != static_cast<int64_t>(t.data.size())) {
      return rt::InvalidArgument(path + ": tensor '" + name + "' holds " + std::to_string(t.data.size()) +
                                 " values, its shape " + std::to_string(t.numel()));
    }
  }
  std::string header = HeaderJson(tensors, dtype);
  std::string bytes;
  for (int i = 0; i < 8; ++i) bytes.push_back(static_cast<char>((header.size() >> (8 * i)) & 0xff));
  bytes += header;
  for (const auto& [name, t] : tensors) AppendTensor(t, dtype, bytes);
  return WriteFileAtomically(path, bytes);
}

}  // namespace lightloop::workloads
