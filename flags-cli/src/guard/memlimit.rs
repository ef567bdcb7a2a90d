//! The default of `--memory-limit`: the guard's own cgroup limit when one is
//! set (a systemd unit with `MemoryMax=`, a container), else the machine's
//! memory. Run beside the bot in the same slice, or pass the bot's limit.

use std::fs;

/// cgroup v1 writes a huge number (about 2^63) for "no limit".
const V1_UNLIMITED: u64 = 1 << 60;

pub fn default_memory_limit() -> Option<u64> {
    cgroup_limit(
        &read("/proc/self/cgroup"),
        |path| read(&format!("/sys/fs/cgroup{path}/memory.max")),
        |path| {
            read(&format!(
                "/sys/fs/cgroup/memory{path}/memory.limit_in_bytes"
            ))
        },
    )
    .or_else(|| mem_total(&read("/proc/meminfo")))
}

fn read(path: &str) -> String {
    fs::read_to_string(path).unwrap_or_default()
}

/// The limit of the cgroup named in `/proc/self/cgroup` (v2 `0::/path`, or
/// v1 `N:memory:/path`), falling back to the root of the mount (inside a
/// container the path is often `/` while the limit sits at the mount root).
fn cgroup_limit(
    proc_self_cgroup: &str,
    v2_max: impl Fn(&str) -> String,
    v1_limit: impl Fn(&str) -> String,
) -> Option<u64> {
    for line in proc_self_cgroup.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let path = path.trim_end_matches('/');
        if controllers.is_empty() {
            for p in [path, ""] {
                match v2_max(p).trim() {
                    "" | "max" => continue,
                    n => return n.parse().ok(),
                }
            }
        } else if controllers.split(',').any(|c| c == "memory") {
            for p in [path, ""] {
                if let Ok(n) = v1_limit(p).trim().parse::<u64>()
                    && n < V1_UNLIMITED
                {
                    return Some(n);
                }
            }
        }
    }
    None
}

fn mem_total(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cgroup_v2_limit_or_none() {
        let v2 = |max: &'static str| {
            move |p: &str| {
                if p == "/system.slice/bot.service" {
                    max.to_owned()
                } else {
                    String::new()
                }
            }
        };
        let none = |_: &str| String::new();
        assert_eq!(
            cgroup_limit("0::/system.slice/bot.service\n", v2("1073741824\n"), none),
            Some(1 << 30)
        );
        assert_eq!(
            cgroup_limit("0::/system.slice/bot.service\n", v2("max\n"), none),
            None
        );
        // A container: the limit at the mount root.
        let root = |p: &str| {
            if p.is_empty() {
                "2147483648".to_owned()
            } else {
                String::new()
            }
        };
        assert_eq!(cgroup_limit("0::/\n", root, none), Some(2 << 30));
    }

    #[test]
    fn cgroup_v1_limit_ignores_unlimited() {
        let v1 = |n: &'static str| move |_: &str| n.to_owned();
        let none = |_: &str| String::new();
        let text = "12:cpu,cpuacct:/x\n4:memory:/docker/abc\n";
        assert_eq!(cgroup_limit(text, none, v1("536870912")), Some(512 << 20));
        assert_eq!(cgroup_limit(text, none, v1("9223372036854771712")), None);
    }

    #[test]
    fn machine_memory_from_meminfo() {
        assert_eq!(
            mem_total("MemTotal:       24576000 kB\nMemFree: 1 kB\n"),
            Some(24_576_000 * 1024)
        );
        assert_eq!(mem_total("nothing"), None);
        assert!(default_memory_limit().is_some_and(|n| n > 0));
    }
}
