// xtensor's printer (xio.hpp, operator<< below) inserts into a std::string in a way GCC 12 misreads,
// once inlined, as an overlapping memcpy in libstdc++'s char_traits.h (-Wrestrict; GCC bug 105329).
// The warning is located in that header, so it is silenced before the first include, for this file.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ == 12
#pragma GCC diagnostic ignored "-Wrestrict"
#endif
#include "tensor.hpp"

#include <cmath>
#include <cstdio>
#include <new>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <ostream>
#include <sstream>

#if defined(__linux__)
#include <sys/mman.h>
#endif

#include <xtensor/xio.hpp>

namespace xgrad {

namespace {
thread_local dtype g_default_dtype = dtype::float32;

// A newly allocated buffer of 4 MiB or more (a large weight's gradient, Adam's moments, a large
// cached layout of a weight) is offered transparent huge pages, on Linux where the system allows
// them (/sys/kernel/mm/transparent_hugepage/enabled: "madvise" or "always"; otherwise madvise fails
// and nothing changes): a product that streams a 16 MB operand touches 4096 pages of 4 KiB, each a
// TLB miss, but only 8 of 2 MiB. Only the 2 MiB-aligned inside of the buffer can be huge; it is
// advised before anything touches it. XGRAD_NO_HUGE_PAGES=1 in the environment turns this
// off (for A/B measurements).
void advise_huge_pages(const void* p, std::size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    constexpr std::uintptr_t huge = std::uintptr_t(1) << 21;
    static const bool off = std::getenv("XGRAD_NO_HUGE_PAGES") && std::string(std::getenv("XGRAD_NO_HUGE_PAGES")) == "1";
    if (off || bytes < 2 * huge) return;
    const std::uintptr_t a = reinterpret_cast<std::uintptr_t>(p);
    const std::uintptr_t lo = (a + huge - 1) & ~(huge - 1), hi = (a + bytes) & ~(huge - 1);
    if (hi > lo) (void)madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_HUGEPAGE);
#else
    (void)p;
    (void)bytes;
#endif
}

template <class A>
void resize_storage(A& a, const shape_t& shape) {
    const std::size_t n = element_count(shape, "tensor", sizeof(typename A::value_type));
    const void* before = a.data();
    try {
        a.resize(shape);
    } catch (const std::bad_alloc&) {
        throw allocation_error(shape, n * sizeof(typename A::value_type));
    }
    if (a.data() != before) advise_huge_pages(a.data(), a.size() * sizeof(typename A::value_type));
}
}  // namespace

const char* dtype_name(dtype d) { return d == dtype::float32 ? "float32" : "float64"; }
dtype default_dtype() { return g_default_dtype; }
void set_default_dtype(dtype d) { g_default_dtype = d; }

std::size_t element_count(const shape_t& shape, const char* what, std::size_t bytes_per_element) {
    // The product of the non-zero dimensions must fit, bytes included, even when another dimension is
    // 0: such a shape cannot be held on this machine in any form, and a zero must not hide that.
    std::size_t nonzero = 1, bytes = 0;
    bool zero = false, overflow = false;
    for (std::size_t d : shape) {
        if (d == 0) zero = true;
        else overflow = overflow || __builtin_mul_overflow(nonzero, d, &nonzero);
    }
    overflow = overflow || __builtin_mul_overflow(nonzero, bytes_per_element, &bytes);
    if (overflow)
        throw shape_error(std::string("xgrad::") + what + ": the shape " + shape_str(shape) +
                          " has more elements than this machine can address (the product of its dimensions "
                          "overflows 64 bits); check where the shape came from");
    return zero ? 0 : nonzero;
}

allocation_error::allocation_error(const shape_t& shape, std::size_t bytes)
    : error("xgrad::tensor: out of memory allocating a " + shape_str(shape) + " tensor (" + byte_str(bytes) +
            "); use smaller sizes (hidden size, batch, sequence length, samples)"),
      bytes(bytes) {}

std::string byte_str(std::size_t bytes) {
    const char* units[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    double v = double(bytes);
    int u = 0;
    while (v >= 1024 && u < 6) {
        v /= 1024;
        ++u;
    }
    char buf[48];
    if (u == 0)
        std::snprintf(buf, sizeof buf, "%zu bytes", bytes);
    else
        std::snprintf(buf, sizeof buf, "%.1f %s", v, units[u]);
    return buf;
}

std::string shape_str(const shape_t& s) {
    // A long shape is shortened (its first and last dimensions, and how many there are): a message
    // stays readable whatever shape a file or a caller made up.
    constexpr std::size_t head = 6, tail = 3;
    const bool shorten = s.size() > head + tail + 2;
    std::string out = "[";
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (shorten && i == head) {
            out += ", …";
            i = s.size() - tail - 1;
            continue;
        }
        if (i) out += ", ";
        out += std::to_string(s[i]);
    }
    out += "]";
    if (shorten) out += " (" + std::to_string(s.size()) + " dimensions)";
    return out;
}

tensor tensor::empty(const shape_t& shape, xgrad::dtype d) {
    tensor t;
    t.reshape_storage(shape, d);
    return t;
}

tensor tensor::zeros(const shape_t& shape, xgrad::dtype d) { return full(shape, 0.0, d); }
tensor tensor::ones(const shape_t& shape, xgrad::dtype d) { return full(shape, 1.0, d); }

tensor tensor::full(const shape_t& shape, double value, xgrad::dtype d) {
    tensor t = empty(shape, d);
    t.fill(value);
    return t;
}

tensor tensor::scalar(double value, xgrad::dtype d) { return full(shape_t{}, value, d); }

double tensor::item() const {
    if (size() != 1)
        throw shape_error("tensor::item: needs a tensor with exactly one element, got shape " +
                          shape_str(shape()));
    return flat(0);
}

double tensor::flat(std::size_t i) const {
    return visit([i](const auto& a) { return static_cast<double>(a.data()[i]); });
}

void tensor::set_flat(std::size_t i, double value) {
    visit([=](auto& a) { a.data()[i] = static_cast<typename std::decay_t<decltype(a)>::value_type>(value); });
}

void tensor::fill(double value) {
    visit([=](auto& a) {
        using T = typename std::decay_t<decltype(a)>::value_type;
        T* __restrict p = a.data();
        const std::size_t n = a.size();
        if (value == 0.0 && !std::signbit(value)) {
            if (n) std::memset(p, 0, n * sizeof(T));  // gradient zero-fill: the hot case
            return;
        }
        const T v = static_cast<T>(value);
        for (std::size_t i = 0; i < n; ++i) p[i] = v;
    });
}

void tensor::reshape_storage(const shape_t& shape, xgrad::dtype d) {
    if (d == dtype::float32) {
        if (v_.index() != 1) v_.template emplace<f32>();
        resize_storage(std::get<f32>(v_), shape);
    } else {
        if (v_.index() != 2) v_.template emplace<f64>();
        resize_storage(std::get<f64>(v_), shape);
    }
}

void tensor::reshape(const shape_t& shape) {
    const std::size_t n = element_count(shape, "tensor::reshape");
    if (n != size())
        throw shape_error("tensor::reshape: cannot view " + shape_str(this->shape()) + " (" +
                          std::to_string(size()) + " elements) as " + shape_str(shape));
    visit([&](auto& a) { a.reshape(shape); });
}

tensor tensor::to(xgrad::dtype d) const {
    if (d == dtype::float32)
        return visit([](const auto& a) { return tensor(f32(xt::cast<float>(a))); });
    return visit([](const auto& a) { return tensor(f64(xt::cast<double>(a))); });
}

void tensor::throw_undefined() const {
    throw error("xgrad::tensor: the tensor is undefined (it holds no value yet)");
}

void tensor::throw_dtype(xgrad::dtype wanted) const {
    throw dtype_error(std::string("xgrad::tensor: asked for ") + dtype_name(wanted) +
                      " data but the tensor is " + dtype_name(dtype()));
}

std::ostream& operator<<(std::ostream& os, const tensor& t) {
    if (!t.defined()) return os << "tensor(undefined)";
    t.visit([&](const auto& a) { os << a; });
    return os << " (" << dtype_name(t.dtype()) << ")";
}

bool all_finite(const tensor& t) {
    return t.visit([](const auto& a) {
        const auto* p = a.data();
        for (std::size_t i = 0, n = a.size(); i < n; ++i)
            if (!std::isfinite(p[i])) return false;
        return true;
    });
}

double max_abs_diff(const tensor& a, const tensor& b) {
    if (a.dtype() != b.dtype())
        throw dtype_error(std::string("max_abs_diff: dtypes differ: ") + dtype_name(a.dtype()) + " and " +
                          dtype_name(b.dtype()));
    if (a.shape() != b.shape())
        throw shape_error("max_abs_diff: shapes differ: " + shape_str(a.shape()) + " and " + shape_str(b.shape()));
    double m = 0;
    for (std::size_t i = 0, n = a.size(); i < n; ++i) m = std::max(m, std::abs(a.flat(i) - b.flat(i)));
    return m;
}

}  // namespace xgrad
