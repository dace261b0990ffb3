// .npz reading (writing: npz_write.cpp): libzip for the archive and a small .npy header parser
// for each member read (it must name the dtype of arrays xgrad cannot
// hold, and check the data length before trusting it, so a corrupt file is an error, not a crash).
#include "npz.hpp"

#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <set>

#include <xtensor/xnpy.hpp>
#include <xtensor/xmanipulation.hpp>

namespace xgrad::nn {

namespace detail {

std::string quoted(const std::string& s) { return "'" + s + "'"; }

std::string zip_message(int code) {
    zip_error_t e;
    zip_error_init_with_code(&e, code);
    std::string msg = zip_error_strerror(&e);
    zip_error_fini(&e);
    return msg;
}

}  // namespace detail

namespace {

using detail::quoted;
using detail::zip_message;

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

}  // namespace xgrad::nn
