#include "checkpoint.hpp"

#include <cmath>
#include <map>

namespace xgrad::nn {

namespace {

std::string join(const std::vector<std::string>& v) {
    std::string s;
    for (auto& x : v) s += (s.empty() ? "" : ", ") + x;
    return s;
}

std::string dtype_of_member(const npz_array& a) {
    return a.value.defined() ? std::string(dtype_name(a.value.dtype())) : npy_dtype_name(a.descr);
}

bool is_count(const npz_array& a) {
    if (!a.value.defined() || a.value.dim() != 0) return false;
    const double v = a.value.item();
    return v >= 0 && v == std::floor(v) && v < 9007199254740992.0;
}

// The file's arrays by name, each consumed at most once.
struct member_table {
    std::vector<npz_array> arrays;
    std::map<std::string, std::size_t> index;
    std::vector<bool> used;

    explicit member_table(std::vector<npz_array> a) : arrays(std::move(a)), used(arrays.size(), false) {
        for (std::size_t i = 0; i < arrays.size(); ++i) index[arrays[i].name] = i;
    }
    const npz_array* take(const std::string& name) {
        const auto it = index.find(name);
        if (it == index.end()) return nullptr;
        used[it->second] = true;
        return &arrays[it->second];
    }
};

// Does `a` fit a tensor of this shape and dtype? Adds to the report when not.
bool fits(const npz_array& a, const std::string& name, const shape_t& shape, dtype d, load_report& r) {
    bool ok = true;
    if (a.shape != shape) {
        r.wrong_shape.push_back(name + ": file " + shape_str(a.shape) + ", model " + shape_str(shape));
        ok = false;
    }
    if (!a.value.defined() || a.value.dtype() != d) {
        r.wrong_dtype.push_back(name + ": file " + dtype_of_member(a) + ", model " + dtype_name(d));
        ok = false;
    }
    return ok;
}

bool fits_count(const npz_array& a, const std::string& name, load_report& r) {
    if (is_count(a)) return true;
    if (!a.value.defined())
        r.wrong_dtype.push_back(name + ": file " + dtype_of_member(a) + ", expected a float64 step count");
    else
        r.wrong_shape.push_back(name + ": file " + shape_str(a.shape) + " " + dtype_of_member(a) +
                                ", expected a 0-d whole number (a step count)");
    return false;
}

// The optimizer's state from the file: per parameter, all its entries fit or none is taken.
named_tensors read_optimizer(member_table& file, const optimizer& opt, load_report& r) {
    const std::string pre = std::string(optimizer_prefix) + opt.name() + ".";
    named_tensors out;
    bool any = false;
    for (auto& a : file.arrays) any = any || a.name.rfind(optimizer_prefix, 0) == 0;
    if (!any) {
        r.missing.push_back(pre + "step (the file holds no optimizer state)");
        return out;
    }
    if (const auto* s = file.take(pre + "step")) {
        if (fits_count(*s, pre + "step", r)) {
            out.emplace_back(opt.name() + ".step", s->value);
            r.loaded.push_back(pre + "step");
        }
    } else {
        r.missing.push_back(pre + "step");
    }
    if (out.empty()) out.emplace_back(opt.name() + ".step", tensor::scalar(static_cast<double>(opt.steps()), dtype::float64));
    for (const auto& [pname, p] : opt.params()) {
        std::vector<std::string> keys{"count"};
        keys.insert(keys.end(), opt.slot_names().begin(), opt.slot_names().end());
        std::vector<const npz_array*> found;
        for (auto& k : keys) found.push_back(file.take(pre + k + "." + pname));
        bool none = true, ok = true;
        for (auto* f : found) none = none && f == nullptr;
        if (none) continue;  // this parameter starts from fresh state
        for (std::size_t k = 0; k < keys.size(); ++k) {
            const std::string name = pre + keys[k] + "." + pname;
            if (!found[k]) {
                r.missing.push_back(name);
                ok = false;
            } else if (k == 0) {
                ok = fits_count(*found[k], name, r) && ok;
            } else {
                ok = fits(*found[k], name, p.shape(), p.dtype(), r) && ok;
            }
        }
        if (!ok) continue;
        for (std::size_t k = 0; k < keys.size(); ++k) {
            out.emplace_back(opt.name() + "." + keys[k] + "." + pname, found[k]->value);
            r.loaded.push_back(pre + keys[k] + "." + pname);
        }
    }
    return out;
}

}  // namespace

std::string load_report::str() const {
    std::string s;
    const auto group = [&s](const char* what, const std::vector<std::string>& v) {
        if (v.empty()) return;
        s += std::string(s.empty() ? "" : "\n") + "  " + what + " (" + std::to_string(v.size()) + "): " + join(v);
    };
    group("missing", missing);
    group("unexpected", unexpected);
    group("wrong shape", wrong_shape);
    group("wrong dtype", wrong_dtype);
    return s;
}

void save_checkpoint(const std::string& path, const module& m, const optimizer* opt, const save_options& options) {
    named_tensors entries;
    for (auto& [name, p] : m.named_parameters()) entries.emplace_back(name, p.value());
    if (opt)
        for (auto& [name, t] : opt->state()) entries.emplace_back(optimizer_prefix + name, std::move(t));
    for (auto& [name, t] : options.metadata) entries.emplace_back(metadata_prefix + name, t);
    save_npz(path, entries, {.compress = options.compress});
}

load_report load_checkpoint(const std::string& path, module& m, optimizer* opt, const load_options& options) {
    member_table file(read_npz(path));
    load_report r;
    std::vector<std::pair<parameter, const npz_array*>> assign;
    for (auto& [name, p] : m.named_parameters()) {
        const auto* a = file.take(name);
        if (!a) {
            r.missing.push_back(name);
        } else if (fits(*a, name, p.shape(), p.dtype(), r)) {
            assign.emplace_back(p, a);
            r.loaded.push_back(name);
        }
    }
    named_tensors opt_state;
    if (opt) opt_state = read_optimizer(file, *opt, r);
    for (std::size_t i = 0; i < file.arrays.size(); ++i) {
        if (file.used[i]) continue;
        const auto& name = file.arrays[i].name;
        if (name.rfind(metadata_prefix, 0) == 0) {
            r.metadata.push_back(name);
            continue;
        }
        (!opt && name.rfind(optimizer_prefix, 0) == 0 ? r.ignored : r.unexpected).push_back(name);
    }
    if (options.strict && !r.complete())
        throw checkpoint_mismatch_error("checkpoint '" + path + "' does not fit " + m.type_name() +
                                            (opt ? " and its " + opt->name() + " optimizer" : std::string()) +
                                            "; nothing was loaded (load_options{.strict = false} loads what fits):\n" +
                                            r.str(),
                                        r);
    for (auto& [p, a] : assign) p.value() = a->value;
    if (opt) opt->load_state(opt_state);
    return r;
}

named_tensors read_metadata(const std::string& path) {
    named_tensors out;
    const std::string pre = metadata_prefix;
    for (auto& a : read_npz(path)) {
        if (a.name.rfind(pre, 0) != 0) continue;
        if (!a.value.defined())
            throw checkpoint_error("checkpoint '" + path + "': metadata array '" + a.name + "' has dtype " +
                                   npy_dtype_name(a.descr) + "; only float32/float64 are read");
        out.emplace_back(a.name.substr(pre.size()), std::move(a.value));
    }
    return out;
}

}  // namespace xgrad::nn
