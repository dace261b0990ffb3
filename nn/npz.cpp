// .npz reading (writing: npz_write.cpp): libzip for the archive and a small .npy header parser.
// Invariants: a member's header is read from a bounded prefix of its stream before any of its data;
// the data size it declares equals the ZIP directory's size for the member; data is inflated only on
// read(), exactly the declared bytes plus one probe byte. So a file can never make the reader inflate
// or allocate more than its headers declare, and a caller that checks headers first bounds memory.
#include "npz.hpp"

#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <set>

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

// ---- reading ----------------------------------------------------------------------------------------

struct zip_closer {
    void operator()(zip_t* z) const { zip_discard(z); }
};
struct zip_file_closer {
    void operator()(zip_file_t* f) const { zip_fclose(f); }
};
using member_stream = std::unique_ptr<zip_file_t, zip_file_closer>;

member_stream open_member(zip_t* z, zip_uint64_t i, const std::string& path, const std::string& member) {
    member_stream f(zip_fopen_index(z, i, 0));
    if (!f)
        throw checkpoint_corrupt_error("checkpoint " + quoted(path) + ": cannot open member " + quoted(member) + ": " +
                                       zip_strerror(z));
    return f;
}

// Up to n bytes of the member into out; fewer only at its end.
std::size_t read_some(zip_file_t* f, char* out, std::size_t n, const std::string& path, const std::string& member) {
    std::size_t done = 0;
    while (done < n) {
        const zip_int64_t got = zip_fread(f, out + done, n - done);
        if (got < 0)
            throw checkpoint_corrupt_error("checkpoint " + quoted(path) + ": cannot read member " + quoted(member) +
                                           ": " + zip_error_strerror(zip_file_get_error(f)) +
                                           " (the file is damaged or truncated)");
        if (got == 0) break;
        done += static_cast<std::size_t>(got);
    }
    return done;
}

// The member's magic, version, length field and header dict: never more than 12 + max_header_bytes.
std::string read_header_bytes(zip_file_t* f, const std::string& path, const std::string& member) {
    std::string b(10, '\0');
    b.resize(read_some(f, b.data(), 10, path, member));
    if (b.size() < 10 || b.compare(0, 6, "\x93NUMPY", 6) != 0) bad_member(path, member, "no .npy magic bytes");
    const auto u8 = [&](std::size_t i) { return static_cast<std::size_t>(static_cast<unsigned char>(b[i])); };
    std::size_t len = u8(8) | u8(9) << 8;
    if (u8(6) == 2 || u8(6) == 3) {
        b.resize(12);
        if (read_some(f, b.data() + 10, 2, path, member) < 2) bad_member(path, member, "truncated header");
        len |= u8(10) << 16 | u8(11) << 24;
    }
    if (len > npz_reader::max_header_bytes)
        bad_member(path, member, "a header of " + std::to_string(len) + " bytes (numpy writes a few hundred; the limit is " +
                                     std::to_string(npz_reader::max_header_bytes) + ")");
    const std::size_t at = b.size();
    b.resize(at + len);
    if (read_some(f, b.data() + at, len, path, member) < len) bad_member(path, member, "truncated header");
    return b;
}

// Elements of a shape; refuses a product over 2^50. The nonzero dimensions are bounded together even
// when another one is 0, so no product of any part of the shape overflows later.
std::size_t element_count(const shape_t& shape, const std::string& path, const std::string& member) {
    std::size_t nonzero = 1;
    bool zero = false;
    for (auto d : shape) {
        if (d == 0) {
            zero = true;
            continue;
        }
        if (nonzero > (std::size_t{1} << 50) / d) bad_member(path, member, "absurd shape " + shape_str(shape));
        nonzero *= d;
    }
    return zero ? 0 : nonzero;
}

// The name of a member that the central directory lists twice, or "" (libzip refuses such an archive
// with only "File already exists"). Reads the end record and the directory, both bounded by the file.
std::string duplicate_member_name(const std::string& path) {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) return {};
    std::string data;
    const auto read_at = [&](long off, std::size_t n) {
        data.assign(n, '\0');
        if (std::fseek(f, off, SEEK_SET) != 0) return false;
        return std::fread(data.data(), 1, n, f) == n;
    };
    const auto u16 = [&](std::size_t i) {
        return static_cast<std::size_t>(static_cast<unsigned char>(data[i])) |
               static_cast<std::size_t>(static_cast<unsigned char>(data[i + 1])) << 8;
    };
    const auto u32 = [&](std::size_t i) { return u16(i) | u16(i + 2) << 16; };
    std::string name;
    const long size = std::fseek(f, 0, SEEK_END) == 0 ? std::ftell(f) : -1;
    const long tail = std::min<long>(size, 22 + 65535);
    if (size >= 22 && read_at(size - tail, static_cast<std::size_t>(tail))) {
        const auto eocd = data.rfind(std::string("PK\x05\x06", 4));
        if (eocd != std::string::npos && eocd + 22 <= data.size()) {
            const std::size_t cd_size = u32(eocd + 12), cd_off = u32(eocd + 16);
            if (cd_off + cd_size <= static_cast<std::size_t>(size) && read_at(static_cast<long>(cd_off), cd_size)) {
                std::set<std::string> seen;
                for (std::size_t p = 0; p + 46 <= data.size() && data.compare(p, 4, "PK\x01\x02", 4) == 0;) {
                    const std::size_t n = u16(p + 28), extra = u16(p + 30), comment = u16(p + 32);
                    if (p + 46 + n > data.size()) break;
                    std::string m = data.substr(p + 46, n);
                    if (!seen.insert(m).second) {
                        name = std::move(m);
                        break;
                    }
                    p += 46 + n + extra + comment;
                }
            }
        }
    }
    std::fclose(f);
    return name;
}

// The member's data after its header: exactly n elements, then the end of the member.
template <class T>
tensor read_data(zip_file_t* f, const npz_member& m, std::size_t n, const std::string& path, const std::string& member) {
    xt::xarray<T> a = xt::xarray<T>::from_shape(m.fortran ? shape_t(m.shape.rbegin(), m.shape.rend()) : m.shape);
    const std::size_t want = n * sizeof(T);
    // an empty array has no data pointer to read into
    const std::size_t got = n ? read_some(f, reinterpret_cast<char*>(a.data()), want, path, member) : 0;
    if (got < want)
        bad_member(path, member, "shape " + shape_str(m.shape) + " of " + npy_dtype_name(m.descr) + " needs " +
                                     std::to_string(want) + " data bytes, the member inflates to " +
                                     std::to_string(got) + " (truncated)");
    // One byte more must be the end; reaching the end is also where libzip checks the CRC.
    char extra;
    if (read_some(f, &extra, 1, path, member) != 0)
        bad_member(path, member, "it inflates to more than the " + std::to_string(want) +
                                     " data bytes its header declares (shape " + shape_str(m.shape) + " of " +
                                     npy_dtype_name(m.descr) + "); the archive is damaged or crafted: re-save it");
    if (m.descr[0] == '>') {  // big-endian file: swap each element's bytes
        auto* raw = reinterpret_cast<unsigned char*>(a.data());
        for (std::size_t i = 0; i < n; ++i) std::reverse(raw + i * sizeof(T), raw + (i + 1) * sizeof(T));
    }
    if (m.fortran && m.shape.size() > 1) {
        xt::xarray<T> c = xt::transpose(a);
        return tensor(std::move(c));
    }
    if (m.fortran) a.reshape(m.shape);
    return tensor(std::move(a));
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

std::optional<dtype> npz_member::value_dtype() const {
    const bool endian_ok = descr.size() == 3 && (descr[0] == '<' || descr[0] == '>' || descr[0] == '=' || descr[0] == '|');
    if (endian_ok && descr.compare(1, 2, "f4") == 0) return dtype::float32;
    if (endian_ok && descr.compare(1, 2, "f8") == 0) return dtype::float64;
    return std::nullopt;
}

struct npz_reader::impl {
    std::string path;
    std::unique_ptr<zip_t, zip_closer> z;
    std::vector<npz_member> members;
    std::vector<zip_uint64_t> zip_index;
    std::vector<std::size_t> elements;
    std::map<std::string, std::size_t> by_name;
};

npz_reader::npz_reader(const std::string& path) : impl_(std::make_unique<impl>()) {
    impl_->path = path;
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0)
        throw checkpoint_io_error("checkpoint " + quoted(path) + ": cannot open: " + std::strerror(errno));
    if (S_ISDIR(st.st_mode)) throw checkpoint_io_error("checkpoint " + quoted(path) + ": is a directory");
    if (st.st_size == 0) throw checkpoint_corrupt_error("checkpoint " + quoted(path) + ": the file is empty (truncated?)");
    int code = 0;
    impl_->z.reset(zip_open(path.c_str(), ZIP_RDONLY | ZIP_CHECKCONS, &code));
    if (!impl_->z) {
        if (code == ZIP_ER_EXISTS) {
            const std::string dup = duplicate_member_name(path);
            throw checkpoint_corrupt_error(
                "checkpoint " + quoted(path) + ": the archive holds " +
                (dup.empty() ? std::string("a member name")
                             : "the array " + quoted(dup.size() > 4 && dup.compare(dup.size() - 4, 4, ".npy") == 0
                                                         ? dup.substr(0, dup.size() - 4) : dup) +
                                   " (member " + quoted(dup) + ")") +
                " twice, and which one is meant cannot be told; re-save it with each array once");
        }
        const bool io = code == ZIP_ER_OPEN || code == ZIP_ER_NOENT || code == ZIP_ER_READ || code == ZIP_ER_SEEK ||
                        code == ZIP_ER_MEMORY;
        const std::string msg = "checkpoint " + quoted(path) + ": " + zip_message(code);
        if (io) throw checkpoint_io_error(msg);
        throw checkpoint_corrupt_error(msg + " (an .npz checkpoint is a ZIP archive of .npy arrays; the file is "
                                             "damaged, truncated or of another format)");
    }
    zip_t* z = impl_->z.get();
    const zip_int64_t count = zip_get_num_entries(z, 0);
    for (zip_int64_t i = 0; i < count; ++i) {
        const auto zi = static_cast<zip_uint64_t>(i);
        const char* raw = zip_get_name(z, zi, 0);
        if (!raw) throw checkpoint_corrupt_error("checkpoint " + quoted(path) + ": member " + std::to_string(i) + " has no name");
        const std::string member = raw;
        if (member.size() < 5 || member.compare(member.size() - 4, 4, ".npy") != 0)
            throw checkpoint_corrupt_error("checkpoint " + quoted(path) + ": member " + quoted(member) +
                                           " is not a .npy array; this ZIP archive is not an .npz checkpoint");
        npz_member m;
        m.name = member.substr(0, member.size() - 4);
        if (impl_->by_name.count(m.name))
            throw checkpoint_corrupt_error("checkpoint " + quoted(path) + ": the archive holds the array " + quoted(m.name) +
                                           " twice; re-save it with each array once");
        zip_stat_t zs;
        zip_stat_init(&zs);
        if (zip_stat_index(z, zi, 0, &zs) != 0 || !(zs.valid & ZIP_STAT_SIZE))
            throw checkpoint_corrupt_error("checkpoint " + quoted(path) + ": member " + quoted(member) +
                                           " has no size in the ZIP directory");
        const std::string bytes = read_header_bytes(open_member(z, zi, path, member).get(), path, member);
        const npy_header h = parse_header(bytes, path, member);
        m.descr = h.descr;
        m.shape = h.shape;
        m.fortran = h.fortran;
        const std::size_t n = element_count(h.shape, path, member);
        const std::size_t item = item_size(h.descr);
        if (item == 0 || item > 64) bad_member(path, member, "cannot read dtype " + quoted(h.descr));
        m.data_bytes = n * item;
        // The directory's size must be exactly header + declared data: checked before any data is inflated.
        if (zs.size < h.data_offset) bad_member(path, member, "the ZIP directory gives it fewer bytes than its header");
        const std::uint64_t have = zs.size - h.data_offset;
        if (have != m.data_bytes)
            bad_member(path, member, "shape " + shape_str(h.shape) + " of " + npy_dtype_name(h.descr) + " needs " +
                                         std::to_string(m.data_bytes) + " data bytes, the member has " +
                                         std::to_string(have) +
                                         (have < m.data_bytes ? " (truncated)"
                                                              : " in the ZIP directory; the archive is damaged or crafted: re-save it"));
        impl_->by_name[m.name] = impl_->members.size();
        impl_->members.push_back(std::move(m));
        impl_->zip_index.push_back(zi);
        impl_->elements.push_back(n);
    }
}

npz_reader::~npz_reader() = default;
npz_reader::npz_reader(npz_reader&&) noexcept = default;
npz_reader& npz_reader::operator=(npz_reader&&) noexcept = default;

const std::string& npz_reader::path() const { return impl_->path; }
const std::vector<npz_member>& npz_reader::members() const { return impl_->members; }

std::size_t npz_reader::find(const std::string& name) const {
    const auto it = impl_->by_name.find(name);
    return it == impl_->by_name.end() ? npos : it->second;
}

npz_array npz_reader::read(std::size_t i) const {
    const npz_member& m = impl_->members.at(i);
    npz_array out{m.name, m.descr, m.shape, {}};
    const auto dt = m.value_dtype();
    if (!dt) return out;
    const std::string member = m.name + ".npy";
    const member_stream f = open_member(impl_->z.get(), impl_->zip_index[i], impl_->path, member);
    read_header_bytes(f.get(), impl_->path, member);  // the same bounded prefix as when opening
    out.value = *dt == dtype::float32 ? read_data<float>(f.get(), m, impl_->elements[i], impl_->path, member)
                                      : read_data<double>(f.get(), m, impl_->elements[i], impl_->path, member);
    return out;
}

std::vector<npz_array> read_npz(const std::string& path) {
    const npz_reader r(path);
    std::vector<npz_array> out;
    for (std::size_t i = 0; i < r.members().size(); ++i) out.push_back(r.read(i));
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
