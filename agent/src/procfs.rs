//! Parsers for the few Linux `/proc` files that sysinfo does not cover:
//! `/proc/net/tcp` and `/proc/net/tcp6` (connections to the media port) and
//! `/proc/stat` (the `ctxt` counter of context switches since boot).
//!
//! The parsers take text and never fail on odd lines: a line that does not
//! parse is skipped, so a kernel that adds columns changes nothing.

/// TCP state `ESTABLISHED` as the kernel writes it in the `st` column.
const TCP_ESTABLISHED: u8 = 0x01;

/// Counts the established connections whose local port is `port` in the
/// text of `/proc/net/tcp` or `/proc/net/tcp6` (the header line is
/// skipped because its columns do not parse).
pub fn count_established(table: &str, port: u16) -> u64 {
    let mut count = 0;
    for line in table.lines() {
        let mut fields = line.split_whitespace();
        // sl, local_address, rem_address, st
        let (Some(_slot), Some(local), Some(_remote), Some(state)) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let Some(local_port) = local.rsplit_once(':').and_then(|(_, p)| u16::from_str_radix(p, 16).ok())
        else {
            continue;
        };
        let Ok(state) = u8::from_str_radix(state, 16) else { continue };
        if local_port == port && state == TCP_ESTABLISHED {
            count += 1;
        }
    }
    count
}

/// The `ctxt` counter of `/proc/stat`: context switches since boot.
pub fn context_switches(stat: &str) -> Option<u64> {
    stat.lines().find_map(|line| {
        let rest = line.strip_prefix("ctxt ")?;
        rest.trim().parse().ok()
    })
}

/// Reads both TCP tables and counts connections to `port`; `None` when
/// neither table can be read (not Linux, or /proc not mounted).
pub fn read_connections(port: u16) -> Option<u64> {
    let mut total = None;
    for path in ["/proc/net/tcp", "/proc/net/tcp6"] {
        if let Ok(table) = std::fs::read_to_string(path) {
            *total.get_or_insert(0) += count_established(&table, port);
        }
    }
    total
}

/// Reads the context-switch counter from `/proc/stat`.
pub fn read_context_switches() -> Option<u64> {
    context_switches(&std::fs::read_to_string("/proc/stat").ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Lines as the kernel writes them (6.x), port 8554 = 0x216A.
    const TCP4: &str = "\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:216A 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 41251 1 0000000000000000 100 0 0 10 0
   1: 0100007F:216A 0100007F:C9B2 01 00000000:00000000 00:00000000 00000000  1000        0 52871 1 0000000000000000 20 4 30 10 -1
   2: 0100007F:C9B2 0100007F:216A 01 00000000:00000000 00:00000000 00000000  1000        0 52870 1 0000000000000000 20 4 30 10 -1
   3: 0F02000A:216A 6401A8C0:D431 01 00000000:00000000 02:000AF0E4 00000000  1000        0 52999 2 0000000000000000 21 4 26 10 -1
   4: 0F02000A:216A 6401A8C0:D432 06 00000000:00000000 03:00001620 00000000     0        0 0 3 0000000000000000
   5: 0100007F:1C84 0100007F:8AE4 01 00000000:00000000 00:00000000 00000000     0        0 61000 1 0000000000000000 20 4 30 10 -1
";

    const TCP6: &str = "\
  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:216A 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 41252 1 0000000000000000 100 0 0 10 0
   1: 00000000000000000000000001000000:216A 00000000000000000000000001000000:E2C4 01 00000000:00000000 00:00000000 00000000  1000        0 63100 1 0000000000000000 20 4 30 10 -1
   2: 0000000000000000FFFF00000100007F:216A 0000000000000000FFFF00000100007F:A1B0 01 00000000:00000000 00:00000000 00000000  1000        0 63101 1 0000000000000000 20 4 30 10 -1
   3: 00000000000000000000000001000000:E2C4 00000000000000000000000001000000:216A 01 00000000:00000000 00:00000000 00000000  1000        0 63102 1 0000000000000000 20 4 30 10 -1
";

    #[test]
    fn counts_established_connections_to_the_port() {
        let cases: [(&str, &str, u16, u64); 8] = [
            ("v4: listener, client side and TIME_WAIT are not counted", TCP4, 8554, 2),
            ("v4: another port", TCP4, 7300, 1),
            ("v4: nothing on this port", TCP4, 9999, 0),
            ("v6 and v4-mapped", TCP6, 8554, 2),
            ("v6: the client's ephemeral port", TCP6, 0xE2C4, 1),
            ("empty table", "", 8554, 0),
            ("header only", "  sl  local_address rem_address   st\n", 8554, 0),
            ("garbage", "1: zz:zz yy 01\nnot a line\n\u{0}\u{1}", 8554, 0),
        ];
        for (what, table, port, expected) in cases {
            assert_eq!(count_established(table, port), expected, "{what}");
        }
    }

    #[test]
    fn reads_ctxt_from_proc_stat() {
        let stat = "\
cpu  10132153 290696 3084719 46828483 16683 0 25195 0 0 0
cpu0 1393280 32966 572056 13343292 6130 0 17875 0 0 0
intr 1462898 33 9 0 0 0 0 0 0 1 0 0 0 0 0 0 0 0
ctxt 8864238453
btime 1700000000
processes 26422
procs_running 2
procs_blocked 0
";
        assert_eq!(context_switches(stat), Some(8_864_238_453));
        assert_eq!(context_switches("cpu 1 2 3\n"), None);
        assert_eq!(context_switches("ctxt lots\n"), None);
        assert_eq!(context_switches(""), None);
    }

    #[test]
    fn real_files_parse_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(read_context_switches().is_some());
            assert!(read_connections(1).is_some());
        }
    }
}
