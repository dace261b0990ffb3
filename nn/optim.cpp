#include "optim.hpp"

#include <algorithm>
#include <cmath>
#include <map>


namespace xgrad::nn {

namespace {

named_parameters_t name_list(const std::vector<parameter>& ps) {
    named_parameters_t out;
    for (std::size_t i = 0; i < ps.size(); ++i) {
        std::string name = ps[i].name();
        if (name.empty()) name = std::string(1, 'p').append(std::to_string(i));
        out.emplace_back(std::move(name), ps[i]);
    }
    return out;
}

void require(bool ok, const std::string& opt, const std::string& what) {
    if (!ok) throw argument_error(opt + ": " + what);
}

bool is_count(const tensor& t) {
    if (t.size() != 1 || t.dim() != 0) return false;
    const double v = t.item();
    return v >= 0 && v == std::floor(v) && v < 9007199254740992.0;  // 2^53: exact in float64
}

}  // namespace

// ---- optimizer base -----------------------------------------------------------------------------------

optimizer::optimizer(std::string name, const module& m, double lr, std::vector<std::string> slots)
    : name_(std::move(name)), lr_(lr), slot_names_(std::move(slots)), params_(m.named_parameters()) {
    validate();
}

optimizer::optimizer(std::string name, const std::vector<parameter>& ps, double lr, std::vector<std::string> slots)
    : name_(std::move(name)), lr_(lr), slot_names_(std::move(slots)), params_(name_list(ps)) {
    validate();
}

void optimizer::validate() {
    require(lr_ >= 0 && std::isfinite(lr_), name_, "the learning rate must be finite and >= 0, got " + std::to_string(lr_));
    for (std::size_t i = 0; i < params_.size(); ++i) {
        require(params_[i].second.defined(), name_, "parameter " + std::to_string(i) + " is empty");
        for (std::size_t j = 0; j < i; ++j) {
            require(params_[j].first != params_[i].first, name_,
                    "two parameters are named '" + params_[i].first + "'; give them distinct names (state is keyed by name)");
            require(!params_[j].second.same_as(params_[i].second), name_,
                    "parameters '" + params_[j].first + "' and '" + params_[i].first +
                        "' are the same parameter (shared weights are listed once, or step() would update them twice)");
        }
    }
    state_.resize(params_.size());
}

void optimizer::set_lr(double lr) {
    require(lr >= 0 && std::isfinite(lr), name_, "the learning rate must be finite and >= 0, got " + std::to_string(lr));
    lr_ = lr;
}

void optimizer::prepare(std::size_t i) {
    auto& [pname, p] = params_[i];
    const tensor& g = p.grad();
    if (g.dtype() != p.dtype())
        throw dtype_error(name_ + ": the gradient of '" + pname + "' is " + dtype_name(g.dtype()) + " but its value is " +
                          dtype_name(p.dtype()) + "; zero_grad() after cast() or cast the gradient");
    if (g.size() != p.size())
        throw shape_error(name_ + ": the gradient of '" + pname + "' has shape " + shape_str(g.shape()) +
                          " but its value has shape " + shape_str(p.shape()));
    auto& s = state_[i];
    if (s.buf.size() != slot_names_.size()) {
        s.buf.assign(slot_names_.size(), tensor());
        for (auto& b : s.buf) b = tensor::zeros(p.shape(), p.dtype());
        s.count = 0;
        return;
    }
    for (std::size_t k = 0; k < s.buf.size(); ++k) {
        auto& b = s.buf[k];
        if (b.dtype() != p.dtype()) b = b.to(p.dtype());  // the module was cast after the optimizer was made
        if (b.size() != p.size())
            throw shape_error(name_ + ": state '" + slot_names_[k] + "' of '" + pname + "' has shape " +
                              shape_str(b.shape()) + " but the parameter now has shape " + shape_str(p.shape()));
    }
}

void optimizer::step() {
    for (std::size_t i = 0; i < params_.size(); ++i) {
        auto& p = params_[i].second;
        if (!p.requires_grad() || !p.grad().defined()) continue;
        prepare(i);
        update(p, state_[i]);
        ++state_[i].count;
    }
    ++steps_;
}

void optimizer::zero_grad() {
    for (auto& [n, p] : params_) p.zero_grad();
}

named_tensors optimizer::state() const {
    named_tensors out;
    out.emplace_back(name_ + ".step", tensor::scalar(static_cast<double>(steps_), dtype::float64));
    for (std::size_t i = 0; i < params_.size(); ++i) {
        const auto& s = state_[i];
        if (s.count == 0) continue;
        const auto& pname = params_[i].first;
        out.emplace_back(name_ + ".count." + pname, tensor::scalar(static_cast<double>(s.count), dtype::float64));
        for (std::size_t k = 0; k < slot_names_.size(); ++k) out.emplace_back(name_ + "." + slot_names_[k] + "." + pname, s.buf[k]);
    }
    return out;
}

std::vector<std::string> optimizer::check_state(const named_tensors& entries) const {
    std::vector<std::string> problems;
    std::map<std::string, std::size_t> index;
    for (std::size_t i = 0; i < params_.size(); ++i) index[params_[i].first] = i;
    // Per parameter: which of count (bit 0) and slots (bits 1..) were given.
    std::map<std::size_t, std::uint64_t> seen;
    bool has_step = false;
    const std::string prefix = name_ + ".";
    std::map<std::string, int> names;
    for (const auto& [name, t] : entries) {
        if (++names[name] == 2) problems.push_back(name + ": given twice");
        if (name.compare(0, prefix.size(), prefix) != 0) {
            problems.push_back(name + ": not state of this optimizer (names start with '" + prefix + "')");
            continue;
        }
        const std::string rest = name.substr(prefix.size());
        if (rest == "step") {
            has_step = true;
            if (!t.defined() || !is_count(t)) problems.push_back(name + ": must be a 0-d whole number");
            continue;
        }
        const auto dot = rest.find('.');
        const std::string slot = rest.substr(0, dot);
        const std::string pname = dot == std::string::npos ? "" : rest.substr(dot + 1);
        const auto slot_it = std::find(slot_names_.begin(), slot_names_.end(), slot);
        if (slot != "count" && slot_it == slot_names_.end()) {
            std::string known = "count";
            for (auto& s : slot_names_) known += ", " + s;
            problems.push_back(name + ": '" + slot + "' is not a state of " + name_ + " with these options (" + known + ")");
            continue;
        }
        const auto pi = index.find(pname);
        if (pi == index.end()) {
            problems.push_back(name + ": this optimizer has no parameter named '" + pname + "'");
            continue;
        }
        const parameter& p = params_[pi->second].second;
        if (slot == "count") {
            seen[pi->second] |= 1;
            if (!t.defined() || !is_count(t)) problems.push_back(name + ": must be a 0-d whole number");
            continue;
        }
        seen[pi->second] |= std::uint64_t{2} << (slot_it - slot_names_.begin());
        if (!t.defined() || t.shape() != p.shape() || t.dtype() != p.dtype()) {
            problems.push_back(name + ": expected " + shape_str(p.shape()) + " " + dtype_name(p.dtype()) + ", got " +
                               (t.defined() ? shape_str(t.shape()) + " " + dtype_name(t.dtype()) : "nothing"));
            continue;
        }
        if (!all_finite(t)) {
            problems.push_back(name + ": holds NaN or infinite values (the run that saved it had diverged)");
            continue;
        }
        if (slot_is_nonnegative(static_cast<std::size_t>(slot_it - slot_names_.begin())))
            for (std::size_t e = 0; e < t.size(); ++e)
                if (t.flat(e) < 0) {
                    problems.push_back(name + ": holds a negative value (" + std::to_string(t.flat(e)) + " at element " +
                                       std::to_string(e) + "), impossible for a mean of squares");
                    break;
                }
    }
    if (!has_step) problems.push_back(name_ + ".step: missing");
    const std::uint64_t all = (std::uint64_t{2} << slot_names_.size()) - 1;
    for (auto& [i, bits] : seen)
        if (bits != all) {
            std::string missing;
            if (!(bits & 1)) missing += " " + name_ + ".count." + params_[i].first;
            for (std::size_t k = 0; k < slot_names_.size(); ++k)
                if (!(bits & (std::uint64_t{2} << k))) missing += " " + name_ + "." + slot_names_[k] + "." + params_[i].first;
            problems.push_back(params_[i].first + ": incomplete state, missing" + missing);
        }
    return problems;
}

void optimizer::load_state(const named_tensors& entries) {
    const auto problems = check_state(entries);
    if (!problems.empty()) {
        std::string msg = name_ + ": cannot load this state (" + std::to_string(problems.size()) + " problem" +
                          (problems.size() == 1 ? "" : "s") + "):";
        for (auto& p : problems) msg += "\n  " + p;
        throw argument_error(msg);
    }
    std::map<std::string, std::size_t> index;
    for (std::size_t i = 0; i < params_.size(); ++i) index[params_[i].first] = i;
    for (auto& s : state_) s = param_slots{};
    const std::string prefix = name_ + ".";
    for (const auto& [name, t] : entries) {
        const std::string rest = name.substr(prefix.size());
        if (rest == "step") {
            steps_ = static_cast<std::uint64_t>(t.item());
            continue;
        }
        const auto dot = rest.find('.');
        const std::string slot = rest.substr(0, dot);
        auto& s = state_[index.at(rest.substr(dot + 1))];
        if (slot == "count") {
            s.count = static_cast<std::uint64_t>(t.item());
            continue;
        }
        s.buf.resize(slot_names_.size());
        s.buf[std::find(slot_names_.begin(), slot_names_.end(), slot) - slot_names_.begin()] = t;
    }
}

}  // namespace xgrad::nn
