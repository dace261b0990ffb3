// .npz reading and writing: libzip for the archive, xt::dump_npy for each member written, and a
// small .npy header parser for each member read (it must name the dtype of arrays xgrad cannot
// hold, and check the data length before trusting it, so a corrupt file is an error, not a crash).
#include "npz.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <set>

#include <xtensor/xnpy.hpp>
#include <xtensor/xmanipulation.hpp>

namespace xgrad::nn {

namespace {

std::string quoted(const std::string& s) { return "'" + s + "'"; }

std::string zip_message(int code) {
    zip_error_t e;
    zip_error_init_with_code(&e, code);
    std::string msg = zip_error_strerror(&e);
    zip_error_fini(&e);
    return msg;
}

// ---- .npy header ------------------------------------------------------------------------------------

struct npy_header {
    std::string descr;
    bool fortran = false;
    shape_t shape;
    std::size_t data_offset = 0;
};

[[noreturn]] void bad_member(const std::string& path, const std::string& member, const std::string& why) {
    throw checkpoint_corrupt_error("checkpoint " + quoted(path) + ": member " + quoted(member) +
                                   " is not a valid .npy array: " + why);
}

// The value of 'key' in numpy's header dict, as written (quotes, tuple parentheses included).
std::string dict_value(const std::string& h, const std::string& key) {
    for (const char q : {'\'', '"'}) {
        const auto k = h.find(q + key + q);
        if (k == std::string::npos) continue;
        auto p = h.find(':', k + key.size() + 2);
        if (p == std::string::npos) return {};
        ++p;
        while (p < h.size() && h[p] == ' ') ++p;
        if (p >= h.size()) return {};
        std::size_t end;
        if (h[p] == '\'' || h[p] == '"') {
            end = h.find(h[p], p + 1);
            if (end == std::string::npos) return {};
            ++end;
        } else if (h[p] == '(') {
            end = h.find(')', p);
            if (end == std::string::npos) return {};
            ++end;
        } else {
            end = h.find_first_of(",}", p);
            if (end == std::string::npos) return {};
        }
        return h.substr(p, end - p);
    }
    return {};
}

npy_header parse_header(const std::string& bytes, const std::string& path, const std::string& member) {
    static const char magic[] = "\x93NUMPY";
    if (bytes.size() < 10 || bytes.compare(0, 6, magic, 6) != 0) bad_member(path, member, "no .npy magic bytes");
    const auto u8 = [&](std::size_t i) { return static_cast<std::size_t>(static_cast<unsigned char>(bytes[i])); };
    const std::size_t major = u8(6);
    std::size_t len, start;
    if (major == 1) {
        len = u8(8) | u8(9) << 8;
        start = 10;
    } else if (major == 2 || major == 3) {
        if (bytes.size() < 12) bad_member(path, member, "truncated header");
        len = u8(8) | u8(9) << 8 | u8(10) << 16 | u8(11) << 24;
        start = 12;
    } else {
        bad_member(path, member, "unknown .npy format version " + std::to_string(major));
    }
    if (bytes.size() < start + len) bad_member(path, member, "truncated header");
    const std::string h = bytes.substr(start, len);
    npy_header out;
    out.data_offset = start + len;
    const std::string descr = dict_value(h, "descr");
    if (descr.size() < 3 || (descr.front() != '\'' && descr.front() != '"'))
        bad_member(path, member, "no 'descr' in the header (a structured array?)");
    out.descr = descr.substr(1, descr.size() - 2);
    const std::string fortran = dict_value(h, "fortran_order");
    if (fortran != "True" && fortran != "False") bad_member(path, member, "no 'fortran_order' in the header");
    out.fortran = fortran == "True";
    const std::string shape = dict_value(h, "shape");
    if (shape.size() < 2 || shape.front() != '(') bad_member(path, member, "no 'shape' in the header");
    std::size_t i = 1;
    while (i < shape.size() - 1) {
        while (i < shape.size() && (shape[i] == ' ' || shape[i] == ',')) ++i;
        if (i >= shape.size() - 1) break;
        std::size_t v = 0, digits = 0;
        while (i < shape.size() && shape[i] >= '0' && shape[i] <= '9') {
            if (v > (std::size_t{1} << 48)) bad_member(path, member, "absurd shape " + shape);
            v = v * 10 + static_cast<std::size_t>(shape[i++] - '0');
            ++digits;
        }
        if (i < shape.size() && shape[i] == 'L') ++i;  // Python 2 longs
        if (digits == 0) bad_member(path, member, "cannot parse shape " + shape);
        out.shape.push_back(v);
    }
    return out;
}

std::size_t item_size(const std::string& descr) {
    if (descr.size() < 3) return 0;
    try {
        const auto n = static_cast<std::size_t>(std::stoul(descr.substr(2)));
        return descr[1] == 'U' ? 4 * n : n;  // numpy unicode strings: UCS-4
    } catch (const std::exception&) {
        return 0;
    }
}

template <class T>
tensor decode(const std::string& bytes, const npy_header& h, std::size_t n) {
    xt::xarray<T> a = xt::xarray<T>::from_shape(h.fortran ? shape_t(h.shape.rbegin(), h.shape.rend()) : h.shape);
    if (n) std::memcpy(a.data(), bytes.data() + h.data_offset, n * sizeof(T));  // an empty array has no data pointer
    if (h.descr[0] == '>') {  // big-endian file: swap each element's bytes
        auto* raw = reinterpret_cast<unsigned char*>(a.data());
        for (std::size_t i = 0; i < n; ++i) std::reverse(raw + i * sizeof(T), raw + (i + 1) * sizeof(T));
    }
    if (h.fortran && h.shape.size() > 1) {
        xt::xarray<T> c = xt::transpose(a);
        return tensor(std::move(c));
    }
    if (h.fortran) a.reshape(h.shape);
    return tensor(std::move(a));
}

npz_array decode_member(const std::string& bytes, const std::string& path, const std::string& member) {
    const npy_header h = parse_header(bytes, path, member);
    npz_array out{member.substr(0, member.size() - 4), h.descr, h.shape, {}};
    std::size_t n = 1;
    for (auto d : h.shape) {
        if (d != 0 && n > (std::size_t{1} << 50) / d) bad_member(path, member, "absurd shape " + shape_str(h.shape));
        n *= d;
    }
    const std::size_t item = item_size(h.descr);
    if (item == 0 || item > 64) bad_member(path, member, "cannot read dtype " + quoted(h.descr));
    const std::size_t have = bytes.size() - h.data_offset, want = n * item;
    if (have != want)
        bad_member(path, member, "shape " + shape_str(h.shape) + " of " + npy_dtype_name(h.descr) + " needs " +
                                     std::to_string(want) + " data bytes, the member has " + std::to_string(have) +
                                     (have < want ? " (truncated)" : ""));
    const bool endian_ok = h.descr[0] == '<' || h.descr[0] == '>' || h.descr[0] == '=' || h.descr[0] == '|';
    if (endian_ok && h.descr.substr(1) == "f4") out.value = decode<float>(bytes, h, n);
    if (endian_ok && h.descr.substr(1) == "f8") out.value = decode<double>(bytes, h, n);
    return out;
}

// ---- reading ----------------------------------------------------------------------------------------

struct zip_closer {
    void operator()(zip_t* z) const { zip_discard(z); }
};

std::string read_member(zip_t* z, zip_uint64_t i, const std::string& path, const std::string& member) {
    zip_file_t* f = zip_fopen_index(z, i, 0);
    if (!f)
        throw checkpoint_corrupt_error("checkpoint " + quoted(path) + ": cannot open member " + quoted(member) + ": " +
                                       zip_strerror(z));
    std::string out;
    char chunk[1 << 16];
    for (;;) {
        const zip_int64_t got = zip_fread(f, chunk, sizeof chunk);
        if (got < 0) {
            const std::string why = zip_error_strerror(zip_file_get_error(f));
            zip_fclose(f);
            throw checkpoint_corrupt_error("checkpoint " + quoted(path) + ": cannot read member " + quoted(member) +
                                           ": " + why + " (the file is damaged or truncated)");
        }
        if (got == 0) break;
        out.append(chunk, static_cast<std::size_t>(got));
    }
    zip_fclose(f);
    return out;
}

}  // namespace

std::string npy_dtype_name(const std::string& descr) {
    if (descr.size() < 3) return quoted(descr);
    const std::string t = descr.substr(1);
    if (t == "f2") return "float16";
    if (t == "f4") return "float32";
    if (t == "f8") return "float64";
    if (t == "b1") return "bool";
    if (t[0] == 'i' || t[0] == 'u') {
        const std::size_t bytes = item_size(descr);
        if (bytes == 1 || bytes == 2 || bytes == 4 || bytes == 8)
            return (t[0] == 'i' ? "int" : "uint") + std::to_string(8 * bytes);
    }
    if (t == "c8") return "complex64";
    if (t == "c16") return "complex128";
    return quoted(descr);
}

std::vector<npz_array> read_npz(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0)
        throw checkpoint_io_error("checkpoint " + quoted(path) + ": cannot open: " + std::strerror(errno));
    if (S_ISDIR(st.st_mode)) throw checkpoint_io_error("checkpoint " + quoted(path) + ": is a directory");
    if (st.st_size == 0) throw checkpoint_corrupt_error("checkpoint " + quoted(path) + ": the file is empty (truncated?)");
    int code = 0;
    std::unique_ptr<zip_t, zip_closer> z(zip_open(path.c_str(), ZIP_RDONLY | ZIP_CHECKCONS, &code));
    if (!z) {
        const bool io = code == ZIP_ER_OPEN || code == ZIP_ER_NOENT || code == ZIP_ER_READ || code == ZIP_ER_SEEK ||
                        code == ZIP_ER_MEMORY;
        const std::string msg = "checkpoint " + quoted(path) + ": " + zip_message(code);
        if (io) throw checkpoint_io_error(msg);
        throw checkpoint_corrupt_error(msg + " (an .npz checkpoint is a ZIP archive of .npy arrays; the file is "
                                             "damaged, truncated or of another format)");
    }
    std::vector<npz_array> out;
    std::set<std::string> seen;
    const zip_int64_t count = zip_get_num_entries(z.get(), 0);
    for (zip_int64_t i = 0; i < count; ++i) {
        const char* raw = zip_get_name(z.get(), static_cast<zip_uint64_t>(i), 0);
        if (!raw) throw checkpoint_corrupt_error("checkpoint " + quoted(path) + ": member " + std::to_string(i) + " has no name");
        const std::string member = raw;
        if (member.size() < 5 || member.compare(member.size() - 4, 4, ".npy") != 0)
            throw checkpoint_corrupt_error("checkpoint " + quoted(path) + ": member " + quoted(member) +
                                           " is not a .npy array; this ZIP archive is not an .npz checkpoint");
        if (!seen.insert(member).second)
            throw checkpoint_corrupt_error("checkpoint " + quoted(path) + ": member " + quoted(member) + " appears twice");
        out.push_back(decode_member(read_member(z.get(), static_cast<zip_uint64_t>(i), path, member), path, member));
    }
    return out;
}

named_tensors load_npz(const std::string& path) {
    named_tensors out;
    std::string bad;
    for (auto& a : read_npz(path)) {
        if (!a.value.defined()) bad += (bad.empty() ? "" : ", ") + a.name + " (" + npy_dtype_name(a.descr) + ")";
        out.emplace_back(std::move(a.name), std::move(a.value));
    }
    if (!bad.empty())
        throw checkpoint_error("checkpoint " + quoted(path) + ": xgrad holds float32 and float64 only; these arrays have "
                               "another dtype: " + bad + " (convert them with numpy: a.astype(np.float32))");
    return out;
}

// ---- writing ----------------------------------------------------------------------------------------

namespace {

// The directory part of `p` ("." when none) and its last component.
std::string dir_of(const std::string& p) {
    const auto slash = p.rfind('/');
    return slash == std::string::npos ? "." : (slash == 0 ? "/" : p.substr(0, slash));
}
std::string base_of(const std::string& p) {
    const auto slash = p.rfind('/');
    return slash == std::string::npos ? p : p.substr(slash + 1);
}

// Temporary files are "<target>.xgrad-tmp-<pid>-<n>", in the target's directory; libzip writes its own
// "<that>.XXXXXX" first and renames it. The pid in the name lets a later save remove the leftovers of a
// writer that died (remove_stale_temporaries).
const std::string temp_tag = ".xgrad-tmp-";

std::string temp_name(const std::string& target) {
    static std::atomic<unsigned> counter{0};
    return target + temp_tag + std::to_string(::getpid()) + "-" + std::to_string(counter++);
}

// The pid of a temporary file of `base` (the target's file name) that xgrad wrote: "<base>.xgrad-tmp-<pid>-<n>"
// or, from versions before, "<base>.tmp-<pid>-<n>", either followed by nothing or by libzip's ".XXXXXX".
// 0 when `name` is not one.
pid_t temp_pid(const std::string& name, const std::string& base) {
    for (const std::string& tag : {temp_tag, std::string(".tmp-")}) {
        const std::string prefix = base + tag;
        if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) continue;
        std::size_t i = prefix.size();
        const auto digits = [&] {
            const std::size_t from = i;
            while (i < name.size() && name[i] >= '0' && name[i] <= '9') ++i;
            return name.substr(from, i - from);
        };
        const std::string pid = digits();
        if (pid.empty() || pid.size() > 9 || i >= name.size() || name[i++] != '-') continue;
        if (digits().empty()) continue;
        if (i < name.size()) {  // libzip's suffix: '.' and letters or digits
            if (name[i++] != '.' || i == name.size()) continue;
            if (!std::all_of(name.begin() + static_cast<std::ptrdiff_t>(i), name.end(),
                             [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }))
                continue;
        }
        const long v = std::stol(pid);
        if (v > 0) return static_cast<pid_t>(v);
    }
    return 0;
}

// Remove the temporary files of `target` left by saves whose process no longer exists (a crash, a kill).
// A temporary of a live process (another save running now, in this process or another) is kept. Best effort:
// a directory that cannot be listed, or a file that cannot be removed, is left as it is.
void remove_stale_temporaries(const std::string& target) {
    const std::string dir = dir_of(target), base = base_of(target);
    std::error_code ec;
    for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
        const std::string name = it->path().filename().string();
        const pid_t pid = temp_pid(name, base);
        if (pid == 0) continue;
        if (::kill(pid, 0) == 0 || errno != ESRCH) continue;  // alive, or not ours to judge (EPERM)
        std::error_code type_ec;
        if (!it->is_regular_file(type_ec) || it->is_symlink(type_ec)) continue;
        std::filesystem::remove(it->path(), type_ec);
    }
}

std::string file_kind(mode_t mode) {
    if (S_ISDIR(mode)) return "a directory";
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
    if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
    if (S_ISSOCK(mode)) return "a socket";
    return "not a regular file";
}

// The file a save replaces. A symbolic link is followed to its final target (the link stays a link and
// the file it names is replaced); a dangling link names the file to create. Anything that exists and is
// not a regular file (a device, a FIFO, a directory, a socket) is refused: renaming over it would replace it.
std::string resolve_target(const std::string& path) {
    std::string target = path;
    for (int hops = 0;; ++hops) {
        struct stat st {};
        if (::lstat(target.c_str(), &st) != 0) return target;  // absent (a new file); other failures surface when writing
        if (S_ISREG(st.st_mode)) return target;
        const std::string via = target == path ? "" : " (the symbolic link leads to " + nn::quoted(target) + ")";
        if (!S_ISLNK(st.st_mode))
            throw checkpoint_io_error("checkpoint " + quoted(path) + via + ": is " + file_kind(st.st_mode) +
                                      ", not a regular file; a checkpoint is saved to a regular file: choose "
                                      "another path, or remove what is there first; nothing was written");
        if (hops >= 40)
            throw checkpoint_io_error("checkpoint " + quoted(path) + ": too many levels of symbolic links" + via +
                                      "; nothing was written");
        std::error_code ec;
        const std::filesystem::path link = std::filesystem::read_symlink(target, ec);
        if (ec)
            throw checkpoint_io_error("checkpoint " + quoted(path) + ": cannot read the symbolic link " + nn::quoted(target) +
                                      ": " + ec.message() + "; nothing was written");
        target = link.is_absolute() ? link.string() : dir_of(target) + "/" + link.string();
    }
}

[[noreturn]] void io_fail(const std::string& path, const std::string& what, int err) {
    throw checkpoint_io_error("checkpoint " + quoted(path) + ": " + what + ": " + std::strerror(err) +
                              "; the previous file (if any) is unchanged");
}

void fsync_path(const std::string& p, bool directory, const std::string& path) {
    const int fd = ::open(p.c_str(), directory ? O_RDONLY | O_DIRECTORY : O_RDONLY);
    if (fd < 0) {
        if (directory) return;  // best effort
        io_fail(path, "cannot reopen the temporary file " + quoted(p), errno);
    }
    const int rc = ::fsync(fd), err = errno;
    ::close(fd);
    if (rc != 0 && !directory) io_fail(path, "cannot flush " + quoted(p) + " to disk", err);
}

// The archive at `tmp`. libzip writes to its own temporary file and renames it to `tmp` on close.
void write_zip(const std::string& tmp, const std::string& path, const std::vector<std::string>& names,
               const std::vector<std::string>& blobs, bool compress) {
    if (names.empty()) {  // libzip deletes empty archives on close: write the 22-byte end record ourselves
        std::FILE* f = std::fopen(tmp.c_str(), "wb");
        if (!f) io_fail(path, "cannot create " + quoted(tmp), errno);
        const char eocd[22] = {'P', 'K', 5, 6};
        const bool ok = std::fwrite(eocd, 1, sizeof eocd, f) == sizeof eocd;
        int err = errno;
        const bool closed = std::fclose(f) == 0;  // a buffered write fails here (ENOSPC, EIO): its errno, not fwrite's
        if (!closed && ok) err = errno;
        if (!closed || !ok) io_fail(path, "cannot write " + quoted(tmp), err);
        return;
    }
    int code = 0;
    zip_t* z = zip_open(tmp.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &code);
    if (!z) throw checkpoint_io_error("checkpoint " + quoted(path) + ": cannot create " + quoted(tmp) + ": " + zip_message(code));
    for (std::size_t i = 0; i < names.size(); ++i) {
        zip_source_t* src = zip_source_buffer(z, blobs[i].data(), blobs[i].size(), 0);
        const zip_int64_t idx = src ? zip_file_add(z, (names[i] + ".npy").c_str(), src, ZIP_FL_ENC_UTF_8) : -1;
        if (idx < 0) {
            if (src) zip_source_free(src);
            const std::string why = zip_strerror(z);
            zip_discard(z);
            throw checkpoint_io_error("checkpoint " + quoted(path) + ": cannot add " + quoted(names[i]) + ": " + why);
        }
        const auto u = static_cast<zip_uint64_t>(idx);
        zip_set_file_compression(z, u, compress ? ZIP_CM_DEFLATE : ZIP_CM_STORE, 0);
        zip_file_set_mtime(z, u, 946684800, 0);  // fixed (2000-01-01): the same model gives the same bytes
    }
    if (zip_close(z) != 0) {
        const std::string why = zip_strerror(z);
        zip_discard(z);
        throw checkpoint_io_error("checkpoint " + quoted(path) + ": cannot write " + quoted(tmp) + ": " + why +
                                  "; the previous file (if any) is unchanged");
    }
}

}  // namespace

void save_npz(const std::string& path, const named_tensors& entries, const npz_options& options) {
    std::vector<std::string> names, blobs;
    std::set<std::string> seen;
    for (const auto& [name, t] : entries) {
        if (name.empty()) throw argument_error("save_npz " + quoted(path) + ": an entry has an empty name");
        if (name.find('\0') != std::string::npos) throw argument_error("save_npz " + quoted(path) + ": a name contains NUL");
        if (!seen.insert(name).second) throw argument_error("save_npz " + quoted(path) + ": two entries are named " + quoted(name));
        if (!t.defined()) throw argument_error("save_npz " + quoted(path) + ": entry " + quoted(name) + " holds no tensor");
        names.push_back(name);
        blobs.push_back(t.visit([](const auto& a) { return xt::dump_npy(a); }));
    }
    const std::string target = resolve_target(path);
    remove_stale_temporaries(target);
    const std::string tmp = temp_name(target);
    try {
        write_zip(tmp, path, names, blobs, options.compress);
        fsync_path(tmp, false, path);
        if (std::rename(tmp.c_str(), target.c_str()) != 0)
            io_fail(path, "cannot rename " + quoted(tmp) + " over " + nn::quoted(target), errno);
    } catch (...) {
        std::remove(tmp.c_str());
        throw;
    }
    fsync_path(dir_of(target), true, path);
}

}  // namespace xgrad::nn
