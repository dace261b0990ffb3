// .npz writing (reading: npz.cpp): xt::dump_npy for each member, libzip for the archive, written to a
// temporary file beside the real target and renamed over it (see npz.hpp).
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
#include <functional>
#include <memory>
#include <set>

#include <xtensor/xnpy.hpp>

namespace xgrad::nn {

using detail::quoted;
using detail::zip_message;

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
std::string resolve_target(const std::string& path, const std::string& what) {
    std::string target = path;
    for (int hops = 0;; ++hops) {
        struct stat st {};
        if (::lstat(target.c_str(), &st) != 0) return target;  // absent (a new file); other failures surface when writing
        if (S_ISREG(st.st_mode)) return target;
        const std::string via = target == path ? "" : " (the symbolic link leads to " + detail::quoted(target) + ")";
        if (!S_ISLNK(st.st_mode))
            throw checkpoint_io_error(what + " " + quoted(path) + via + ": is " + file_kind(st.st_mode) +
                                      ", not a regular file; only a regular file is replaced: choose another "
                                      "path, or remove what is there first; nothing was written");
        if (hops >= 40)
            throw checkpoint_io_error(what + " " + quoted(path) + ": too many levels of symbolic links" + via +
                                      "; nothing was written");
        std::error_code ec;
        const std::filesystem::path link = std::filesystem::read_symlink(target, ec);
        if (ec)
            throw checkpoint_io_error(what + " " + quoted(path) + ": cannot read the symbolic link " + detail::quoted(target) +
                                      ": " + ec.message() + "; nothing was written");
        target = link.is_absolute() ? link.string() : dir_of(target) + "/" + link.string();
    }
}

[[noreturn]] void io_fail(const std::string& path, const std::string& failure, int err,
                          const std::string& what = "checkpoint") {
    throw checkpoint_io_error(what + " " + quoted(path) + ": " + failure + ": " + std::strerror(err) +
                              "; the previous file (if any) is unchanged");
}

void fsync_path(const std::string& p, bool directory, const std::string& path, const std::string& what) {
    const int fd = ::open(p.c_str(), directory ? O_RDONLY | O_DIRECTORY : O_RDONLY);
    if (fd < 0) {
        if (directory) return;  // best effort
        io_fail(path, "cannot reopen the temporary file " + quoted(p), errno, what);
    }
    const int rc = ::fsync(fd), err = errno;
    ::close(fd);
    if (rc != 0 && !directory) io_fail(path, "cannot flush " + quoted(p) + " to disk", err, what);
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
    detail::write_atomically(path, "checkpoint",
                             [&](const std::string& tmp) { write_zip(tmp, path, names, blobs, options.compress); });
}

namespace detail {

void write_atomically(const std::string& path, const std::string& what,
                      const std::function<void(const std::string& tmp)>& write_tmp) {
    const std::string target = resolve_target(path, what);
    remove_stale_temporaries(target);
    const std::string tmp = temp_name(target);
    try {
        write_tmp(tmp);
        fsync_path(tmp, false, path, what);
        if (std::rename(tmp.c_str(), target.c_str()) != 0)
            io_fail(path, "cannot rename " + quoted(tmp) + " over " + detail::quoted(target), errno, what);
    } catch (...) {
        std::remove(tmp.c_str());
        throw;
    }
    fsync_path(dir_of(target), true, path, what);
}

void write_file_atomically(const std::string& path, const std::string& what, const std::string& bytes) {
    write_atomically(path, what, [&](const std::string& tmp) {
        std::FILE* f = std::fopen(tmp.c_str(), "wb");
        if (!f) {
            const int err = errno;
            io_fail(path, "cannot create the temporary file " + quoted(tmp) + (err == ENOENT ? " (does the folder exist?)" : ""),
                    err, what);
        }
        const bool ok = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
        int err = errno;
        const bool closed = std::fclose(f) == 0;  // a buffered write fails here (ENOSPC, EIO): its errno
        if (!closed && ok) err = errno;
        if (!closed || !ok) io_fail(path, "cannot write " + quoted(tmp), err, what);
    });
}

}  // namespace detail

}  // namespace xgrad::nn
