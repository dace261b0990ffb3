#pragma once
// .npz files: a ZIP archive of .npy arrays, one per name, the format of numpy.savez. xgrad writes
// files numpy.load reads, and reads what numpy.savez and numpy.savez_compressed write (stored or
// deflated members, C or Fortran order, little- or big-endian float32/float64).
//
// Writing is atomic: the archive goes to a temporary file in the target's directory, is flushed
// to disk, then renamed over the target. A failure at any point (disk full, a crash) leaves the
// previous file untouched, and the temporary file is removed. The temporary is named
// "<target>.xgrad-tmp-<pid>-<n>"; each save first removes those of its target whose process no
// longer exists (left by a crash or a kill), never one of a live process.
// A symbolic link is written through: the file it finally leads to is replaced (a dangling link: the
// file it names is created) and the link stays a link. A path that exists and is not a regular file
// (a device, a FIFO, a directory, a socket) is refused with checkpoint_io_error; nothing is written.
//
// The checkpoint errors live here: every failure of a read or a write is a checkpoint_error.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "../graph/errors.hpp"
#include "../graph/tensor.hpp"

namespace xgrad::nn {

using named_tensors = std::vector<std::pair<std::string, tensor>>;

struct checkpoint_error : error {
    using error::error;
};
// The file cannot be opened, written, flushed or renamed (the message gives the path and the
// system's reason).
struct checkpoint_io_error : checkpoint_error {
    using checkpoint_error::checkpoint_error;
};
// The file is not a valid .npz: not a ZIP archive, truncated, a member that is not a .npy array,
// a bad CRC, a .npy header that cannot be parsed or whose data is short.
struct checkpoint_corrupt_error : checkpoint_error {
    using checkpoint_error::checkpoint_error;
};

// One array of an .npz file. `value` is defined for float32/float64 arrays; other dtypes (int64,
// float16, ...) keep only their numpy type string `descr` ("<i8") and shape, so a loader can name them.
struct npz_array {
    std::string name;   // the key, without ".npy"
    std::string descr;  // numpy's dtype string: "<f4", "<f8", "<i8", ...
    shape_t shape;
    tensor value;
};

struct npz_options {
    bool compress = false;  // deflate members, as numpy.savez_compressed (default: stored, as numpy.savez)
};

// One member's .npy header, read without inflating the member's data.
struct npz_member {
    std::string name;   // the key, without ".npy"
    std::string descr;  // numpy's dtype string: "<f4", "<f8", "<i8", ...
    shape_t shape;
    bool fortran = false;
    std::uint64_t data_bytes = 0;  // what the header declares: elements x item size
    // float32 or float64: what read() decodes; nullopt for any other dtype.
    std::optional<dtype> value_dtype() const;
};

// An open .npz file. Opening reads every member's .npy header and only that (a bounded prefix of each
// member: at most 12 bytes + max_header_bytes), and checks what it declares against the archive: the
// data size the header's shape and dtype give must equal the member's size in the ZIP directory, so
// a member is refused before any of its data is inflated. read() then inflates exactly the declared
// bytes plus one (one byte more than declared is an error, so a member cannot inflate beyond what its
// header says); nothing is inflated for members nobody reads. Memory: the headers, plus what is read.
class npz_reader {
public:
    static constexpr std::size_t max_header_bytes = std::size_t{1} << 20;  // numpy writes < 1 KB

    // Throws checkpoint_io_error (cannot open or read) or checkpoint_corrupt_error.
    explicit npz_reader(const std::string& path);
    ~npz_reader();
    npz_reader(npz_reader&&) noexcept;
    npz_reader& operator=(npz_reader&&) noexcept;

    const std::string& path() const;
    const std::vector<npz_member>& members() const;  // archive order
    // Index of the member with this name (without ".npy"), or npos.
    std::size_t find(const std::string& name) const;
    static constexpr std::size_t npos = static_cast<std::size_t>(-1);

    // Member i decoded: value is defined for float32/float64 and left undefined for other dtypes
    // (whose data is then not inflated). Throws checkpoint_corrupt_error (short, excess or damaged
    // data, a bad CRC) naming the file and the array.
    npz_array read(std::size_t i) const;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

// Write `entries` (distinct, non-empty names; defined tensors). Throws argument_error on bad
// entries, checkpoint_io_error when the file system refuses.
void save_npz(const std::string& path, const named_tensors& entries, const npz_options& options = {});

// Every array of the file, in archive order (npz_reader, every member read). Throws checkpoint_io_error (cannot open or read)
// or checkpoint_corrupt_error.
std::vector<npz_array> read_npz(const std::string& path);

// read_npz restricted to float32/float64; any other dtype throws checkpoint_error naming it.
named_tensors load_npz(const std::string& path);

// "float32", "float64", "int64", ... for a numpy dtype string; the string itself when unknown.
std::string npy_dtype_name(const std::string& descr);

namespace detail {  // shared by npz.cpp and npz_write.cpp
std::string quoted(const std::string& s);  // 's'
std::string zip_message(int libzip_code);
// The atomic write behind save_npz (see the top of this file), for any file: write_tmp writes the whole
// content to the temporary path it is given, which is then flushed and renamed over `path` (symbolic
// links followed, stale temporaries removed, a non-regular target refused). `what` names the kind of
// file in messages ("checkpoint"). Failures throw checkpoint_io_error; the previous file is untouched.
void write_atomically(const std::string& path, const std::string& what,
                      const std::function<void(const std::string& tmp)>& write_tmp);
// write_atomically of `bytes`.
void write_file_atomically(const std::string& path, const std::string& what, const std::string& bytes);
}  // namespace detail

}  // namespace xgrad::nn
