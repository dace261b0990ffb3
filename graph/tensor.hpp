#pragma once
// tensor: the value type of xgrad. A tensor holds an xtensor array of float32 or float64, chosen
// at run time (like torch.dtype), so user code and the op registry stay free of templates while
// kernels are written once as templates and instantiated for both dtypes. Copies are deep
// (value semantics); moves are cheap.
#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <string>
#include <variant>

#include <xtensor/xarray.hpp>

#include "errors.hpp"

static_assert(std::is_same_v<xt::xarray<float>::allocator_type, xsimd::aligned_allocator<float, 64>>,
              "xgrad needs XTENSOR_USE_XSIMD and XTENSOR_DEFAULT_ALLOCATOR(T)=xsimd::aligned_allocator<T, 64> "
              "(link the xgrad::xgrad CMake target, which sets both)");

namespace xgrad {

enum class dtype : std::uint8_t { float32, float64 };

const char* dtype_name(dtype d);  // "float32" / "float64"

// The dtype used when none is given (float32 unless changed). Thread-local.
dtype default_dtype();
void set_default_dtype(dtype d);

template <class T>
constexpr dtype dtype_of();
template <>
constexpr dtype dtype_of<float>() { return dtype::float32; }
template <>
constexpr dtype dtype_of<double>() { return dtype::float64; }

// Small-vector shape, as xtensor's own (no heap allocation up to 4 dimensions).
using shape_t = xt::svector<std::size_t, 4>;

// a == b for shapes, inline (svector's operator== goes through memcmp: a call per comparison, and
// the engine compares shapes several times per recorded op).
inline bool same_shape(const shape_t& a, const shape_t& b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (a[i] != b[i]) return false;
    return true;
}

// The number of elements of `shape`; throws shape_error naming `what` when the product (or its size
// in bytes, `bytes_per_element` each) overflows size_t. Every product of a shape goes through this.
std::size_t element_count(const shape_t& shape, const char* what, std::size_t bytes_per_element = 8);
std::string shape_str(const shape_t& s);  // "[32, 50]"
std::string byte_str(std::size_t bytes);   // "512 bytes", "1.5 GiB"

// A tensor's storage could not be allocated (std::bad_alloc): the message gives the shape and its size in bytes.
struct allocation_error : error {
    allocation_error(const shape_t& shape, std::size_t bytes);
    std::size_t bytes;
};

class tensor {
public:
    using f32 = xt::xarray<float>;
    using f64 = xt::xarray<double>;

    tensor() = default;  // undefined: holds nothing until assigned
    tensor(f32 a) : v_(std::move(a)) {}
    tensor(f64 a) : v_(std::move(a)) {}

    static tensor empty(const shape_t& shape, xgrad::dtype d = default_dtype());  // uninitialised
    static tensor zeros(const shape_t& shape, xgrad::dtype d = default_dtype());
    static tensor ones(const shape_t& shape, xgrad::dtype d = default_dtype());
    static tensor full(const shape_t& shape, double value, xgrad::dtype d = default_dtype());
    static tensor scalar(double value, xgrad::dtype d = default_dtype());  // 0-d

    bool defined() const { return v_.index() != 0; }
    // Inline: called several times per recorded op (shape checks), where a call into the variant
    // was a visible share of the bookkeeping.
    xgrad::dtype dtype() const {
        if (v_.index() == 1) return dtype::float32;
        if (v_.index() == 2) return dtype::float64;
        throw_undefined();
    }
    const shape_t& shape() const {
        if (const auto* a = std::get_if<1>(&v_)) return a->shape();
        if (const auto* a = std::get_if<2>(&v_)) return a->shape();
        throw_undefined();
    }
    std::size_t dim() const { return shape().size(); }
    std::size_t size() const {
        if (const auto* a = std::get_if<1>(&v_)) return a->size();
        if (const auto* a = std::get_if<2>(&v_)) return a->size();
        throw_undefined();
    }

    // The array itself; throws dtype_error when T is not this tensor's dtype.
    template <class T>
    xt::xarray<T>& array();
    template <class T>
    const xt::xarray<T>& array() const;
    template <class T>
    T* data() { return array<T>().data(); }
    template <class T>
    const T* data() const { return array<T>().data(); }

    // Calls f(array) with the typed array (float or double); throws on an undefined tensor.
    template <class F>
    decltype(auto) visit(F&& f);
    template <class F>
    decltype(auto) visit(F&& f) const;

    double item() const;                        // the only element; throws unless size() == 1
    double flat(std::size_t i) const;           // element i in row-major order (slow path)
    void set_flat(std::size_t i, double value);  // likewise
    void fill(double value);

    // Make this tensor hold `shape` and `d`, reusing its buffer when the size already fits. Throws
    // shape_error when the shape's element count, or its size in bytes, does not fit in size_t.
    // Contents are unspecified afterwards.
    void reshape_storage(const shape_t& shape, xgrad::dtype d);
    // The same elements under another shape of equal size.
    void reshape(const shape_t& shape);

    tensor to(xgrad::dtype d) const;  // converted copy (a plain copy when d is already the dtype)

private:
    [[noreturn]] void throw_undefined() const;
    [[noreturn]] void throw_dtype(xgrad::dtype wanted) const;
    std::variant<std::monostate, f32, f64> v_;
};

std::ostream& operator<<(std::ostream& os, const tensor& t);

// True when every element is finite (no NaN, no infinity).
bool all_finite(const tensor& t);
// Largest |a - b| over all elements; throws shape_error/dtype_error when they differ.
double max_abs_diff(const tensor& a, const tensor& b);

template <class T>
xt::xarray<T>& tensor::array() {
    if (auto* p = std::get_if<xt::xarray<T>>(&v_)) return *p;
    if (!defined()) throw_undefined();
    throw_dtype(dtype_of<T>());
}

template <class T>
const xt::xarray<T>& tensor::array() const {
    if (auto* p = std::get_if<xt::xarray<T>>(&v_)) return *p;
    if (!defined()) throw_undefined();
    throw_dtype(dtype_of<T>());
}

template <class F>
decltype(auto) tensor::visit(F&& f) {
    if (auto* p = std::get_if<f32>(&v_)) return f(*p);
    if (auto* p = std::get_if<f64>(&v_)) return f(*p);
    throw_undefined();
}

template <class F>
decltype(auto) tensor::visit(F&& f) const {
    if (auto* p = std::get_if<f32>(&v_)) return f(*p);
    if (auto* p = std::get_if<f64>(&v_)) return f(*p);
    throw_undefined();
}

}  // namespace xgrad
