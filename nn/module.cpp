#include "module.hpp"

#include <iomanip>
#include <sstream>

namespace xgrad::nn {

std::vector<std::pair<std::string, parameter>> module::named_parameters() const {
    std::vector<std::pair<std::string, parameter>> out;
    for (const auto& [name, p] : params_) out.emplace_back(name, p);
    for (const auto& [name, child] : children_)
        for (auto& [sub, p] : child->named_parameters()) out.emplace_back(name + "." + sub, p);
    return out;
}

std::vector<parameter> module::parameters() const {
    std::vector<parameter> out;
    for (auto& [name, p] : named_parameters()) out.push_back(p);
    return out;
}

parameter module::find(std::string_view name) const {
    std::string known;
    for (auto& [n, p] : named_parameters()) {
        if (n == name) return p;
        known += (known.empty() ? "" : ", ") + n;
    }
    throw argument_error(type_name_ + ": no parameter named '" + std::string(name) + "' (parameters: " + known + ")");
}

std::vector<std::pair<std::string, const module*>> module::children() const {
    std::vector<std::pair<std::string, const module*>> out;
    for (const auto& [n, c] : children_) out.emplace_back(n, c);
    return out;
}

void module::zero_grad() {
    for (auto& p : parameters()) p.zero_grad();
}

void module::set_requires_grad(std::string_view name, bool on) {
    bool any = false;
    std::string known;
    for (auto& [n, p] : named_parameters()) {
        known += (known.empty() ? "" : ", ") + n;
        if (n == name || (n.size() > name.size() && n.compare(0, name.size(), name) == 0 && n[name.size()] == '.')) {
            p.set_requires_grad(on);
            any = true;
        }
    }
    if (!any)
        throw argument_error(type_name_ + ": cannot " + (on ? "unfreeze" : "freeze") + " '" + std::string(name) +
                             "': no parameter has that name or prefix (parameters: " + known + ")");
}

void module::freeze(std::string_view name) { set_requires_grad(name, false); }
void module::unfreeze(std::string_view name) { set_requires_grad(name, true); }
void module::freeze_all() {
    for (auto& p : parameters()) p.set_requires_grad(false);
}
void module::unfreeze_all() {
    for (auto& p : parameters()) p.set_requires_grad(true);
}

void module::train(bool on) {
    training_ = on;
    for (auto& [n, c] : children_) c->train(on);
}

void module::cast(dtype d) {
    for (auto& p : parameters()) p.cast(d);
}

std::size_t module::parameter_count(bool trainable_only) const {
    std::size_t n = 0;
    for (auto& p : parameters())
        if (!trainable_only || p.requires_grad()) n += p.size();
    return n;
}

std::string module::summary() const {
    std::ostringstream s;
    const auto params = named_parameters();
    std::size_t width = 9;
    for (auto& [n, p] : params) width = std::max(width, n.size());
    s << "Model: " << type_name_ << "\n";
    s << std::left << std::setw(static_cast<int>(width) + 2) << "Parameter" << std::setw(14) << "Shape" << std::setw(9)
      << "Dtype" << std::right << std::setw(10) << "Count" << "  Trainable\n";
    s << std::string(width + 2 + 14 + 9 + 10 + 11, '=') << "\n";
    for (auto& [n, p] : params)
        s << std::left << std::setw(static_cast<int>(width) + 2) << n << std::setw(14) << shape_str(p.shape())
          << std::setw(9) << dtype_name(p.dtype()) << std::right << std::setw(10) << p.size() << "  "
          << (p.requires_grad() ? "yes" : "no") << "\n";
    s << std::string(width + 2 + 14 + 9 + 10 + 11, '=') << "\n";
    const auto total = parameter_count(), trainable = parameter_count(true);
    s << "Total params: " << total << "\nTrainable params: " << trainable << "\nNon-trainable params: "
      << total - trainable << "\n";
    return s.str();
}

parameter& module::register_parameter(std::string name, tensor value) {
    for (auto& [n, p] : params_)
        if (n == name) throw argument_error(type_name_ + ": parameter '" + name + "' registered twice");
    params_.emplace_back(name, parameter(std::move(value), name));
    return params_.back().second;
}

void module::register_module(std::string name, module& child) {
    // Parameters carry their full dotted name, so DOT pictures and messages say "rnn.weight_hh_l0".
    for (auto& [sub, p] : child.named_parameters()) p.set_name(name + "." + sub);
    children_.emplace_back(std::move(name), &child);
}

}  // namespace xgrad::nn
