#include "broadcast.hpp"

#include <algorithm>

#include "tape.hpp"

namespace xgrad {

shape_t broadcast_shapes(const char* op, const shape_t& a, const shape_t& b) {
    if (a == b) return a;
    const std::size_t rank = std::max(a.size(), b.size());
    if (rank > 16) throw shape_error(std::string("xgrad::") + op + ": more than 16 dimensions");
    shape_t out(rank, 1);
    for (std::size_t k = 0; k < rank; ++k) {
        const std::size_t da = k < rank - a.size() ? 1 : a[k - (rank - a.size())];
        const std::size_t db = k < rank - b.size() ? 1 : b[k - (rank - b.size())];
        if (da != db && da != 1 && db != 1)
            throw shape_error(std::string("xgrad::") + op + ": shapes " + shape_str(a) + " and " + shape_str(b) +
                              " cannot be broadcast together (axis " + std::to_string(k) + ": " +
                              std::to_string(da) + " vs " + std::to_string(db) + ")" + scope_suffix());
        out[k] = std::max(da, db);
    }
    return out;
}

namespace detail {
void broadcast_strides(const shape_t& out, const shape_t& in, std::size_t* strides) {
    const std::size_t rank = out.size(), offset = rank - in.size();
    std::size_t s = 1;
    for (std::size_t k = rank; k-- > 0;) {
        if (k < offset) {
            strides[k] = 0;
            continue;
        }
        const std::size_t d = in[k - offset];
        strides[k] = d == 1 ? 0 : s;
        s *= d;
    }
}
}  // namespace detail

void accumulate_sum_to(tensor& dst, const tensor& src) {
    if (dst.dtype() != src.dtype())
        throw dtype_error("accumulate_sum_to: dtypes differ");
    src.visit([&](const auto& s) {
        using T = typename std::decay_t<decltype(s)>::value_type;
        T* d = dst.data<T>();
        const T* p = s.data();
        for_each_broadcast(s.shape(), s.shape(), dst.shape(),
                           [&](std::size_t o, std::size_t, std::size_t id) { d[id] += p[o]; });
    });
}

}  // namespace xgrad
