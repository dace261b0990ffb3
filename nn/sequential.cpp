#include "sequential.hpp"

namespace xgrad::nn {

var sequential::operator()(const var& x) const {
    var y = x;
    for (const auto& s : steps_) y = s.f(y);
    return y;
}

}  // namespace xgrad::nn
