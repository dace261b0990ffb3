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

std::string dtype_of_member(const npz_member& a) {
    const auto d = a.value_dtype();
    return d ? std::string(dtype_name(*d)) : npy_dtype_name(a.descr);
}

// The file's arrays by name (headers only), each consumed at most once.
struct member_table {
    const npz_reader& file;
    std::vector<bool> used;

    explicit member_table(const npz_reader& f) : file(f), used(f.members().size(), false) {}
    // Index of the member, or npz_reader::npos; marks it used.
    std::size_t take(const std::string& name) {
        const std::size_t i = file.find(name);
        if (i != npz_reader::npos) used[i] = true;
        return i;
    }
    const npz_member& operator[](std::size_t i) const { return file.members()[i]; }
};

// Does the header of `a` declare a tensor of this shape and dtype? Adds to the report when not.
bool fits(const npz_member& a, const std::string& name, const shape_t& shape, dtype d, load_report& r) {
    bool ok = true;
    if (a.shape != shape) {
        r.wrong_shape.push_back(name + ": file " + shape_str(a.shape) + ", model " + shape_str(shape));
        ok = false;
    }
    if (a.value_dtype() != d) {
        r.wrong_dtype.push_back(name + ": file " + dtype_of_member(a) + ", model " + dtype_name(d));
        ok = false;
    }
    return ok;
}

// A step count: a 0-d float (8 bytes at most to inflate) holding a whole number >= 0.
bool fits_count(const npz_reader& file, std::size_t i, const std::string& name, load_report& r, tensor& value) {
    const npz_member& a = file.members()[i];
    if (!a.value_dtype()) {
        r.wrong_dtype.push_back(name + ": file " + dtype_of_member(a) + ", expected a float64 step count");
        return false;
    }
    if (!a.shape.empty()) {
        r.wrong_shape.push_back(name + ": file " + shape_str(a.shape) + " " + dtype_of_member(a) +
                                ", expected a 0-d whole number (a step count)");
        return false;
    }
    value = file.read(i).value;
    const double v = value.item();
    if (v >= 0 && v == std::floor(v) && v < 9007199254740992.0) return true;
    r.bad_value.push_back(name + ": holds " + std::to_string(v) + ", expected a whole number >= 0 (a step count)");
    return false;
}

// The optimizer's state in the file: per parameter, all its entries fit or none is taken. Counts are
// read (0-d); the buffers are checked from their headers and listed in `buffers` (state name, member)
// for reading once the whole file is known to fit.
struct optimizer_entries {
    named_tensors out;
    std::vector<std::pair<std::string, std::size_t>> buffers;
};

optimizer_entries match_optimizer(member_table& file, const optimizer& opt, load_report& r) {
    const std::string pre = std::string(optimizer_prefix) + opt.name() + ".";
    optimizer_entries entries;
    named_tensors& out = entries.out;
    bool any = false;
    for (auto& a : file.file.members()) any = any || a.name.rfind(optimizer_prefix, 0) == 0;
    if (!any) {
        r.missing.push_back(pre + "step (the file holds no optimizer state)");
        return entries;
    }
    const std::size_t s = file.take(pre + "step");
    if (s != npz_reader::npos) {
        tensor step;
        if (fits_count(file.file, s, pre + "step", r, step)) {
            out.emplace_back(opt.name() + ".step", step);
            r.loaded.push_back(pre + "step");
        }
    } else {
        r.missing.push_back(pre + "step");
    }
    if (out.empty()) out.emplace_back(opt.name() + ".step", tensor::scalar(static_cast<double>(opt.steps()), dtype::float64));
    for (const auto& [pname, p] : opt.params()) {
        std::vector<std::string> keys{"count"};
        keys.insert(keys.end(), opt.slot_names().begin(), opt.slot_names().end());
        std::vector<std::size_t> found;
        for (auto& k : keys) found.push_back(file.take(pre + k + "." + pname));
        bool none = true, ok = true;
        for (auto f : found) none = none && f == npz_reader::npos;
        if (none) continue;  // this parameter starts from fresh state
        tensor count;
        for (std::size_t k = 0; k < keys.size(); ++k) {
            const std::string name = pre + keys[k] + "." + pname;
            if (found[k] == npz_reader::npos) {
                r.missing.push_back(name);
                ok = false;
            } else if (k == 0) {
                ok = fits_count(file.file, found[k], name, r, count) && ok;
            } else {
                ok = fits(file[found[k]], name, p.shape(), p.dtype(), r) && ok;
            }
        }
        if (!ok) continue;
        out.emplace_back(opt.name() + ".count." + pname, count);
        for (std::size_t k = 0; k < keys.size(); ++k) {
            if (k > 0) entries.buffers.emplace_back(opt.name() + "." + keys[k] + "." + pname, found[k]);
            r.loaded.push_back(pre + keys[k] + "." + pname);
        }
    }
    return entries;
}

// The first NaN or infinity of t as "index i (at [a, b])", or "" when every element is finite.
std::string first_nonfinite(const tensor& t) {
    for (std::size_t i = 0; i < t.size(); ++i) {
        const double v = t.flat(i);
        if (std::isfinite(v)) continue;
        shape_t at(t.dim());
        for (std::size_t k = t.dim(), rest = i; k-- > 0;) {
            at[k] = rest % t.shape()[k];
            rest /= t.shape()[k];
        }
        return std::string(std::isnan(v) ? "NaN" : v > 0 ? "+inf" : "-inf") + " at flat index " + std::to_string(i) +
               " (element " + shape_str(at) + ")";
    }
    return {};
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
    group("bad value", bad_value);
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
    const npz_reader file(path);
    return load_checkpoint(file, m, opt, options);
}

load_report load_checkpoint(const npz_reader& reader, module& m, optimizer* opt, const load_options& options) {
    const std::string& path = reader.path();
    member_table file(reader);
    load_report r;
    std::vector<std::pair<parameter, std::size_t>> assign;
    for (auto& [name, p] : m.named_parameters()) {
        const std::size_t a = file.take(name);
        if (a == npz_reader::npos) {
            r.missing.push_back(name);
        } else if (fits(file[a], name, p.shape(), p.dtype(), r)) {
            assign.emplace_back(p, a);
            r.loaded.push_back(name);
        }
    }
    const auto unused = [&] {  // what is left once model and optimizer took theirs
        for (std::size_t i = 0; i < file.used.size(); ++i) {
            if (file.used[i]) continue;
            const auto& name = file[i].name;
            if (name.rfind(metadata_prefix, 0) == 0) {
                r.metadata.push_back(name);
                continue;
            }
            (!opt && name.rfind(optimizer_prefix, 0) == 0 ? r.ignored : r.unexpected).push_back(name);
        }
    };
    const auto mismatch = [&] {
        return checkpoint_mismatch_error("checkpoint '" + path + "' does not fit " + m.type_name() +
                                             (opt ? " and its " + opt->name() + " optimizer" : std::string()) +
                                             "; nothing was loaded (load_options{.strict = false} loads what fits):\n" +
                                             r.str(),
                                         r);
    };
    // Everything is matched from headers (and 0-d counts): nothing that does not fit is inflated.
    optimizer_entries opt_entries;
    if (opt) opt_entries = match_optimizer(file, *opt, r);
    unused();
    if (options.strict && !r.complete()) throw mismatch();
    named_tensors& opt_state = opt_entries.out;
    for (auto& [name, i] : opt_entries.buffers) opt_state.emplace_back(name, reader.read(i).value);
    std::vector<std::pair<parameter, tensor>> values;
    for (auto& [p, i] : assign) {
        tensor v = reader.read(i).value;
        if (!options.allow_nonfinite) {
            const std::string bad = first_nonfinite(v);
            if (!bad.empty())
                throw checkpoint_nonfinite_error(
                    "checkpoint '" + path + "': array '" + file[i].name + "' " + shape_str(v.shape()) + " holds " + bad +
                    " (the run that saved it had diverged); nothing was loaded. Train again from an earlier checkpoint "
                    "or with --clip / a lower --lr; to load it anyway for inspection: --allow-nonfinite "
                    "(load_options{.allow_nonfinite = true})");
        }
        values.emplace_back(p, std::move(v));
    }
    if (opt) {
        const auto problems = opt->check_state(opt_state);
        if (!problems.empty()) {
            std::string msg = "checkpoint '" + path + "': the " + opt->name() + " optimizer state cannot be loaded; nothing was loaded:";
            for (auto& q : problems) msg += "\n  " + q;
            throw checkpoint_error(msg);
        }
    }
    for (auto& [p, v] : values) p.value() = std::move(v);
    if (opt) opt->load_state(opt_state);
    return r;
}

named_tensors read_metadata(const std::string& path) { return read_metadata(npz_reader(path)); }

named_tensors read_metadata(const npz_reader& file) {
    named_tensors out;
    const std::string pre = metadata_prefix;
    for (std::size_t i = 0; i < file.members().size(); ++i) {
        const npz_member& a = file.members()[i];
        if (a.name.rfind(pre, 0) != 0) continue;
        if (!a.value_dtype())
            throw checkpoint_error("checkpoint '" + file.path() + "': metadata array '" + a.name + "' has dtype " +
                                   npy_dtype_name(a.descr) + "; only float32/float64 are read");
        out.emplace_back(a.name.substr(pre.size()), file.read(i).value);
    }
    return out;
}

}  // namespace xgrad::nn
