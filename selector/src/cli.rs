//! The command line of `bourse`: clap structures for the global flags and
//! every subcommand. Parsing only; the commands live in `commands/`.

use std::path::PathBuf;
use std::str::FromStr;

use clap::{Args, Parser, Subcommand};

use crate::commands::admin::PolicySetting;
use crate::values::{PolicyArg, PropArg};

/// Heading of the flags that every subcommand accepts.
const GLOBAL: &str = "Global options";

/// The broker address used when neither `--broker` nor `BOURSE_BROKER` is
/// set and mDNS discovery is switched off.
pub const DEFAULT_BROKER: &str = bourse_proto::DEFAULT_BROKER_ADDRESS;

const AFTER_HELP: &str = "\
Output:
  Results go to stdout: a readable form by default, or with --json exactly one
  JSON document. Errors go to stderr as 'error: <message>'; a constraint or
  preference that the broker rejects is shown again with carets under the
  culprit. With --json an error is also printed on stdout as
  {\"error\":{\"code\":..,\"message\":..}} (plus field, reason, position and end
  for expression errors), so that scripts always get one JSON document.

Exit status:
  0  success
  1  the broker answered with an error
  2  usage error: bad flags or arguments, a value that does not parse,
     an unreadable or invalid input file
  3  the broker cannot be reached, or none answered on mDNS
  4  the output cannot be written
  5  select: the terminal UI cannot run, or no player could be started

Without a command, on a terminal, bourse runs 'bourse select'.";

/// Scriptable command line for a Bourse trader: manage service types, export
/// and withdraw offers, query, and administer the broker.
#[derive(Debug, Clone, Parser)]
#[command(name = "bourse", version, after_help = AFTER_HELP)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags that every subcommand accepts.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// Broker address, as host:port or http://host:port [default: the
    /// broker that answers on mDNS; with --no-mdns, 127.0.0.1:7300]
    #[arg(long, global = true, env = "BOURSE_BROKER", value_name = "ADDR", help_heading = GLOBAL)]
    pub broker: Option<String>,

    /// Do not look for the broker with mDNS when no address is given
    #[arg(long, global = true, env = "BOURSE_NO_MDNS", help_heading = GLOBAL)]
    pub no_mdns: bool,

    /// With several brokers on the network, take only the one whose mDNS
    /// announcement has this id
    #[arg(long, global = true, env = "BOURSE_BROKER_ID", value_name = "ID", help_heading = GLOBAL)]
    pub broker_id: Option<String>,

    /// UDP port for mDNS; all sides must agree (for tests)
    #[arg(long, global = true, env = "BOURSE_MDNS_PORT", hide = true)]
    pub mdns_port: Option<u16>,

    /// Print one JSON document on stdout instead of the readable form
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub json: bool,

    /// Seconds to wait for each call to the broker (connecting takes at most 3 of them)
    #[arg(
        long,
        global = true,
        value_name = "SECS",
        default_value_t = 10,
        help_heading = GLOBAL,
        value_parser = clap::value_parser!(u64).range(1..=86_400)
    )]
    pub timeout: u64,
}

/// The subcommands of `bourse`.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// List, show, add, remove, mask and unmask service types
    #[command(subcommand)]
    Types(TypesCommand),
    /// Export an offer and print its id
    Export(ExportArgs),
    /// Show one offer as stored: reference, owner, lease and properties
    Describe(IdArgs),
    /// Change or delete properties of an offer and print the result
    Modify(ModifyArgs),
    /// Withdraw one offer
    Withdraw(IdArgs),
    /// Withdraw every offer of a type that satisfies a constraint
    WithdrawMatching(WithdrawMatchingArgs),
    /// Renew the lease of an offer
    Keepalive(KeepaliveArgs),
    /// Find offers of a type that satisfy a constraint, in preference order
    Query(QueryArgs),
    /// Fetch the next offers of an earlier query by its page token
    NextPage(NextPageArgs),
    /// Broker policies, statistics and the list of all offers
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Choose one server for one client and reserve room on it
    Pick(PickArgs),
    /// Give back a reservation made by pick before it lapses
    Release(ReleaseArgs),
    /// Follow a standing query: its results, updated live until Ctrl-C
    Watch(WatchArgs),
    /// Terminal UI: choose a title, compare the servers that have it, pick one and play it
    Select(SelectArgs),
    /// Run a local demo: an embedded broker and three agents on loopback, then the UI
    Demo(DemoArgs),
}

/// `bourse demo ...`
#[derive(Debug, Clone, Args)]
#[command(after_help = "\
The demo starts a broker and three media-server agents in this process, on
loopback, each with its own catalog, formats and capacity, and reporting a
simulated load (the other figures are measured). No media server runs: use
--print to see the URL that would be played. Every select flag applies.")]
pub struct DemoArgs {
    /// Address of the embedded broker (port 0 picks a free port)
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:0")]
    pub listen: std::net::SocketAddr,

    /// Do not open the UI: print the broker address and run until Ctrl-C
    #[arg(long)]
    pub headless: bool,

    #[command(flatten)]
    pub select: SelectArgs,
}

/// `bourse types ...`
#[derive(Debug, Clone, Subcommand)]
pub enum TypesCommand {
    /// List the names of the service types and the repository's incarnation
    List {
        /// Only types added or changed after this incarnation
        #[arg(long, value_name = "INCARNATION")]
        since: Option<u64>,
    },
    /// Show a service type: supertypes, flags and its properties
    Show {
        /// Name of the service type
        name: String,
        /// Include inherited properties and all supertypes (FullyDescribeType)
        #[arg(long)]
        full: bool,
    },
    /// Add the service types declared in a type file (TOML), in file order
    #[command(after_help = "\
The file declares [[type]] tables with name, interface, super_types, doc and
[[type.property]] tables with name, type (bool int64 uint64 double string
bool_seq int64_seq uint64_seq double_seq string_seq record_list), mode (normal
readonly mandatory mandatory_readonly) and doc. Each added type is printed
with the incarnation the broker gave it.")]
    Add {
        /// Path of the type file
        file: PathBuf,
    },
    /// Remove a service type (it must have no subtypes and no offers)
    Remove {
        /// Name of the service type
        name: String,
    },
    /// Mask a service type: it accepts no new exports, existing offers still match
    Mask {
        /// Name of the service type
        name: String,
    },
    /// Unmask a service type
    Unmask {
        /// Name of the service type
        name: String,
    },
}

const VALUE_HELP: &str = "\
Values:
  A --prop value is typed by the type the service type declares for it:
    bool          true, false, TRUE, FALSE
    int64 uint64  decimal integers
    double        decimal numbers (finite)
    string        the text as given
    *_seq         comma-separated items (h264,vp9); empty text is the empty
                  sequence; or a JSON array (string_seq: [\"a,b\",\"c\"])
    record_list   a JSON array of objects: [{\"name\":\"x\",\"duration\":12.5}]
  --prop NAME=@FILE reads the value from a file (@@ stands for a literal @).
  A property the type does not declare is typed as given (tags:string_seq=a,b)
  or inferred: bool, then int64, then double, else string.
  --dynamic NAME=URL makes a dynamic property evaluated by calling URL back;
  its value type is the declared one or given as NAME:TYPE=URL.";

/// `bourse export ...`
#[derive(Debug, Clone, Args)]
#[command(after_help = VALUE_HELP)]
pub struct ExportArgs {
    /// Service type of the offer
    #[arg(long = "type", value_name = "TYPE")]
    pub service_type: String,

    /// The endpoint a client connects to
    #[arg(long = "ref", value_name = "URI")]
    pub reference: String,

    #[command(flatten)]
    pub properties: PropertyArgs,

    /// Lease length in seconds; 0 exports a permanent offer that survives broker restarts
    #[arg(long, value_name = "SECS", default_value_t = 0)]
    pub lease: u64,

    /// Exporter identity recorded as the offer's owner (default: the broker records the peer address)
    #[arg(long, value_name = "NAME", default_value = "", hide_default_value = true)]
    pub owner: String,
}

/// Property flags shared by `export` and `modify`.
#[derive(Debug, Clone, Default, Args)]
pub struct PropertyArgs {
    /// Set a property (repeatable); see Values below
    #[arg(long = "prop", value_name = "NAME[:TYPE]=VALUE")]
    pub props: Vec<PropArg>,

    /// Make a property dynamic, evaluated by calling the evaluator at URL back (repeatable)
    #[arg(long = "dynamic", value_name = "NAME[:TYPE]=URL")]
    pub dynamics: Vec<PropArg>,

    /// How long the broker may reuse an evaluated dynamic value, in milliseconds (0: always ask)
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub max_age_ms: u64,
}

/// An offer id.
#[derive(Debug, Clone, Args)]
pub struct IdArgs {
    /// Offer id
    pub id: String,
}

/// `bourse modify ...`
#[derive(Debug, Clone, Args)]
#[command(after_help = VALUE_HELP)]
pub struct ModifyArgs {
    /// Offer id
    pub id: String,

    #[command(flatten)]
    pub properties: PropertyArgs,

    /// Delete a property (repeatable)
    #[arg(long = "delete", value_name = "NAME")]
    pub delete: Vec<String>,
}

/// `bourse withdraw-matching ...`
#[derive(Debug, Clone, Args)]
pub struct WithdrawMatchingArgs {
    /// Service type (exactly this type, not its subtypes)
    #[arg(value_name = "TYPE")]
    pub service_type: String,
    /// Constraint that the offers to withdraw satisfy (must not be empty)
    pub constraint: String,
}

/// `bourse keepalive ...`
#[derive(Debug, Clone, Args)]
pub struct KeepaliveArgs {
    /// Offer id
    pub id: String,
    /// New lease length in seconds (default: keep the current length)
    #[arg(long, value_name = "SECS", default_value_t = 0)]
    pub lease: u64,
}

/// `bourse query ...`
#[derive(Debug, Clone, Args)]
#[command(after_help = "\
Examples:
  bourse query MediaServer \"'Casablanca' in titles and load < 0.8\" --pref 'min load'
  bourse query MediaServer --props host,load --policy exact_type_match=true

Policies: search_card, match_card, return_card, hop_count (numbers),
exact_type_match, use_dynamic_properties, use_modifiable_properties (true or
false), link_follow_rule (local_only, if_no_local, always), dynamic_deadline_ms,
max_staleness_ms (numbers).

With --props all (the default) each offer is shown as a block of lines;
otherwise as one table row per offer.")]
pub struct QueryArgs {
    /// Service type to look for (offers of its subtypes match too)
    #[arg(value_name = "TYPE")]
    pub service_type: String,

    /// Constraint in the OMG trading constraint language (default: TRUE)
    #[arg(default_value = "", hide_default_value = true)]
    pub constraint: String,

    /// Preference: 'min EXPR', 'max EXPR', 'with EXPR', 'random' or 'first' (default)
    #[arg(long = "pref", value_name = "PREFERENCE", default_value = "", hide_default_value = true)]
    pub preference: String,

    /// Properties to return: a comma-separated list of names, all, or none
    #[arg(long, value_name = "a,b|all|none", default_value = "all")]
    pub props: DesiredProps,

    /// Offers to return at once (default: the broker's page size); the rest come by page token
    #[arg(long, value_name = "N")]
    pub how_many: Option<u32>,

    /// Importer policy (repeatable)
    #[arg(long = "policy", value_name = "NAME=VALUE")]
    pub policies: Vec<PolicyArg>,

    /// Follow the page token until every matched offer is fetched
    #[arg(long)]
    pub all_pages: bool,
}

/// `bourse pick ...`
#[derive(Debug, Clone, Args)]
#[command(after_help = "\
Examples:
  bourse pick MediaServer \"'h264' in video_formats\" --title Casablanca
  url=$(bourse pick MediaServer --title Casablanca --reserve 30 | head -n1)

Prints the chosen endpoint on the first line (with --title, the play URL of
that title on the chosen server; else the offer's reference), then the
reservation. The broker counts the reservation against the server until the
server's own figures include the new stream, it lapses, or 'bourse release'
gives it back. When every matching server is full the command fails with
exit status 1.")]
pub struct PickArgs {
    /// Service type to pick from (offers of its subtypes match too)
    #[arg(value_name = "TYPE")]
    pub service_type: String,

    /// Constraint in the OMG trading constraint language (default: TRUE)
    #[arg(default_value = "", hide_default_value = true)]
    pub constraint: String,

    /// Preference ranking the candidates (default: most free capacity)
    #[arg(long = "pref", value_name = "PREFERENCE", default_value = "", hide_default_value = true)]
    pub preference: String,

    /// Properties of the chosen offer to return: a comma-separated list, all, or none
    #[arg(long, value_name = "a,b|all|none", default_value = "all")]
    pub props: DesiredProps,

    /// Only servers that hold this title; print its play URL
    #[arg(long, value_name = "NAME")]
    pub title: Option<String>,

    /// Only this offer (repeatable): pick a server chosen from a query, by its offer id
    #[arg(long = "offer", value_name = "OFFER_ID")]
    pub offer_ids: Vec<String>,

    /// How long the reservation holds, in seconds (default: the broker's)
    #[arg(long = "reserve", value_name = "SECS", default_value_t = 0)]
    pub reserve: u64,

    /// Name of the client, for the broker's logs and statistics
    #[arg(long, value_name = "NAME", default_value = "bourse")]
    pub client: String,

    /// Importer policy (repeatable)
    #[arg(long = "policy", value_name = "NAME=VALUE")]
    pub policies: Vec<PolicyArg>,
}

/// `bourse release ...`
#[derive(Debug, Clone, Args)]
pub struct ReleaseArgs {
    /// Reservation id printed by pick
    pub reservation_id: String,
}

/// `bourse watch ...`
#[derive(Debug, Clone, Args)]
#[command(after_help = "\
Examples:
  bourse watch MediaServer --props host,connections,load --pref 'min load'
  bourse watch MediaServer \"'Casablanca' in titles\" --json --interval-ms 500 | jq .

On a terminal the table is redrawn in place; otherwise every update is
printed after the last. With --json each update is one JSON document on one
line. Stops on Ctrl-C.")]
pub struct WatchArgs {
    /// Service type to look for (offers of its subtypes match too)
    #[arg(value_name = "TYPE")]
    pub service_type: String,

    /// Constraint in the OMG trading constraint language (default: TRUE)
    #[arg(default_value = "", hide_default_value = true)]
    pub constraint: String,

    /// Preference: 'min EXPR', 'max EXPR', 'with EXPR', 'random' or 'first' (default)
    #[arg(long = "pref", value_name = "PREFERENCE", default_value = "", hide_default_value = true)]
    pub preference: String,

    /// Properties to show: a comma-separated list of names, all, or none
    #[arg(long, value_name = "a,b|all|none", default_value = "all")]
    pub props: DesiredProps,

    /// Time between updates in milliseconds (the broker clamps it to its bounds)
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub interval_ms: u32,

    /// Offers in each update (default: the broker's page size)
    #[arg(long, value_name = "N")]
    pub how_many: Option<u32>,

    /// Importer policy (repeatable)
    #[arg(long = "policy", value_name = "NAME=VALUE")]
    pub policies: Vec<PolicyArg>,
}

/// `bourse select ...` (also `bourse` alone on a terminal).
#[derive(Debug, Clone, Default, Args)]
#[command(after_help = "\
Three phases, as in the CORBA A/V selector: (1) the titles that servers able
to stream to you with a free connection hold; (2) for the chosen title, the
servers that have it with their live figures, ranked by the broker; (3) live
charts of those servers; Enter picks one (a reservation through Pick) and
hands its play URL to the player. Press ? in the UI for the keys.

Client configuration file (TOML; flags win):
  video = [\"h264\", \"vp9\"]
  audio = [\"aac\"]
  protocols = [\"rtsp\", \"hls\"]
  player = \"mpv {url}\"
  order = \"load\"

Player: --player runs the command through sh with {url} replaced by the
quoted URL (appended when absent); by default the first of ffplay, mpv and
vlc found on PATH. --print writes the URL on stdout instead and draws the UI
on the terminal (/dev/tty), so that url=$(bourse select --print) works.")]
pub struct SelectArgs {
    /// Video codecs the client plays, comma-separated (default: any)
    #[arg(long, value_name = "h264,vp9")]
    pub video: Option<String>,

    /// Audio codecs the client plays, comma-separated (default: any)
    #[arg(long, value_name = "aac,opus")]
    pub audio: Option<String>,

    /// Streaming protocols the client accepts, comma-separated (default: any)
    #[arg(long, value_name = "rtsp,hls")]
    pub protocols: Option<String>,

    /// Client configuration file (TOML) with video, audio, protocols, player, order
    #[arg(long, value_name = "FILE")]
    pub client_config: Option<PathBuf>,

    /// How servers are ranked: room (most free connections) or load (least load)
    #[arg(long, value_enum, value_name = "room|load")]
    pub order: Option<crate::media::Order>,

    /// Player command, e.g. 'ffplay {url}' (default: ffplay, mpv or vlc from PATH)
    #[arg(long, value_name = "COMMAND")]
    pub player: Option<String>,

    /// Print the chosen URL on stdout instead of starting a player
    #[arg(long)]
    pub print: bool,

    /// Time between chart updates in milliseconds
    #[arg(long, value_name = "N")]
    pub interval_ms: Option<u32>,

    /// How long the reservation holds, in seconds (default: the broker's)
    #[arg(long = "reserve", value_name = "SECS")]
    pub reserve: Option<u64>,

    /// Name of the client, for the broker's logs and statistics
    #[arg(long, value_name = "NAME")]
    pub client: Option<String>,

    /// Write logs to this file (logs never go to the terminal while the UI is up)
    #[arg(long, value_name = "FILE")]
    pub log_file: Option<PathBuf>,
}

/// Which properties a query returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DesiredProps {
    All,
    None,
    Named(Vec<String>),
}

impl FromStr for DesiredProps {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim() {
            "all" => Ok(DesiredProps::All),
            "none" | "" => Ok(DesiredProps::None),
            list => {
                let names: Vec<String> = list.split(',').map(|n| n.trim().to_string()).collect();
                if names.iter().any(String::is_empty) {
                    return Err("expected property names separated by commas, 'all' or 'none'".to_string());
                }
                Ok(DesiredProps::Named(names))
            }
        }
    }
}

/// `bourse next-page ...`
#[derive(Debug, Clone, Args)]
pub struct NextPageArgs {
    /// Page token printed by an earlier query
    pub token: String,
    /// Offers to return at once (default: the broker's page size)
    #[arg(long, value_name = "N")]
    pub how_many: Option<u32>,
    /// Follow the page token until every remaining offer is fetched
    #[arg(long)]
    pub all_pages: bool,
}

/// `bourse admin ...`
#[derive(Debug, Clone, Subcommand)]
pub enum AdminCommand {
    /// Show the broker's policy defaults, maxima and limits
    Policies,
    /// Change policy settings and show what changed
    #[command(after_help = crate::commands::admin::SETTINGS_HELP)]
    Set {
        /// Settings to change, e.g. max_return_card=500 def_follow_rule=if_no_local
        #[arg(value_name = "KEY=VALUE", required = true)]
        settings: Vec<PolicySetting>,
    },
    /// Show the broker's counters
    Stats,
    /// List every offer the broker holds (all pages)
    Offers {
        /// Only offers of exactly this type
        #[arg(long = "type", value_name = "TYPE")]
        service_type: Option<String>,
    },
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests fail loudly on purpose")]

    use super::*;
    use bourse_proto::{Policy, Value, ValueType};
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("bourse").chain(args.iter().copied()))
            .unwrap_or_else(|e| panic!("{args:?}: {e}"))
    }

    fn parse_err(args: &[&str]) -> clap::Error {
        match Cli::try_parse_from(std::iter::once("bourse").chain(args.iter().copied())) {
            Ok(cli) => panic!("{args:?} parsed as {cli:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn the_command_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_flags_go_anywhere() {
        let cli = parse(&["--broker", "http://b:7300", "--json", "types", "list", "--timeout", "3"]);
        assert_eq!(cli.global.broker.as_deref(), Some("http://b:7300"));
        assert!(cli.global.json);
        assert_eq!(cli.global.timeout, 3);
        let cli = parse(&["types", "list", "--json"]);
        assert!(cli.global.json);
        if std::env::var_os("BOURSE_BROKER").is_none() {
            assert_eq!(cli.global.broker, None);
        }
        assert_eq!(cli.global.timeout, 10);
        assert_eq!(
            parse_err(&["--timeout", "0", "types", "list"]).kind(),
            clap::error::ErrorKind::ValueValidation
        );
    }

    #[test]
    fn types_commands() {
        assert!(matches!(
            parse(&["types", "list"]).command,
            Command::Types(TypesCommand::List { since: None })
        ));
        assert!(matches!(
            parse(&["types", "list", "--since", "4"]).command,
            Command::Types(TypesCommand::List { since: Some(4) })
        ));
        let Command::Types(TypesCommand::Show { name, full }) =
            parse(&["types", "show", "MediaServer", "--full"]).command
        else {
            panic!("not types show")
        };
        assert_eq!((name.as_str(), full), ("MediaServer", true));
        let Command::Types(TypesCommand::Add { file }) = parse(&["types", "add", "t.toml"]).command else {
            panic!("not types add")
        };
        assert_eq!(file, PathBuf::from("t.toml"));
        for (verb, expected) in [("remove", "R"), ("mask", "M"), ("unmask", "U")] {
            let name = match parse(&["types", verb, expected]).command {
                Command::Types(
                    TypesCommand::Remove { name }
                    | TypesCommand::Mask { name }
                    | TypesCommand::Unmask { name },
                ) => name,
                other => panic!("{other:?}"),
            };
            assert_eq!(name, expected);
        }
        assert_eq!(parse_err(&["types", "show"]).kind(), clap::error::ErrorKind::MissingRequiredArgument);
    }

    #[test]
    fn export_command() {
        let cli = parse(&[
            "export",
            "--type",
            "MediaServer",
            "--ref",
            "rtsp://a:554/",
            "--prop",
            "host=a",
            "--prop",
            "tags:string_seq=x,y",
            "--dynamic",
            "load=http://127.0.0.1:7400",
            "--max-age-ms",
            "500",
            "--lease",
            "30",
            "--owner",
            "agent-a",
        ]);
        let Command::Export(export) = cli.command else { panic!("not export") };
        assert_eq!(export.service_type, "MediaServer");
        assert_eq!(export.reference, "rtsp://a:554/");
        assert_eq!(export.properties.props.len(), 2);
        assert_eq!(export.properties.props[1].value_type, Some(ValueType::StringSeq));
        assert_eq!(export.properties.dynamics[0].text, "http://127.0.0.1:7400");
        assert_eq!((export.properties.max_age_ms, export.lease, export.owner.as_str()), (500, 30, "agent-a"));

        let Command::Export(export) = parse(&["export", "--type", "T", "--ref", "x"]).command else {
            panic!()
        };
        assert_eq!((export.lease, export.owner.as_str(), export.properties.max_age_ms), (0, "", 0));
        assert_eq!(
            parse_err(&["export", "--ref", "x"]).kind(),
            clap::error::ErrorKind::MissingRequiredArgument
        );
        let err = parse_err(&["export", "--type", "T", "--ref", "x", "--prop", "novalue"]);
        assert_eq!(err.kind(), clap::error::ErrorKind::ValueValidation);
        assert!(err.to_string().contains("expected NAME=VALUE or NAME:TYPE=VALUE"), "{err}");
        let err = parse_err(&["export", "--type", "T", "--ref", "x", "--prop", "n:text=1"]);
        assert!(err.to_string().contains("unknown value type 'text'"), "{err}");
    }

    #[test]
    fn offer_commands() {
        let Command::Describe(IdArgs { id }) = parse(&["describe", "o1"]).command else { panic!() };
        assert_eq!(id, "o1");
        let Command::Withdraw(IdArgs { id }) = parse(&["withdraw", "o2"]).command else { panic!() };
        assert_eq!(id, "o2");
        let Command::Modify(modify) =
            parse(&["modify", "o3", "--prop", "zone=eu", "--delete", "titles", "--delete", "movies"]).command
        else {
            panic!()
        };
        assert_eq!(modify.id, "o3");
        assert_eq!(modify.properties.props[0].name, "zone");
        assert_eq!(modify.delete, ["titles", "movies"]);
        let Command::WithdrawMatching(w) =
            parse(&["withdraw-matching", "MediaServer", "zone == 'eu'"]).command
        else {
            panic!()
        };
        assert_eq!((w.service_type.as_str(), w.constraint.as_str()), ("MediaServer", "zone == 'eu'"));
        assert_eq!(
            parse_err(&["withdraw-matching", "MediaServer"]).kind(),
            clap::error::ErrorKind::MissingRequiredArgument
        );
        let Command::Keepalive(k) = parse(&["keepalive", "o4", "--lease", "60"]).command else { panic!() };
        assert_eq!((k.id.as_str(), k.lease), ("o4", 60));
        let Command::Keepalive(k) = parse(&["keepalive", "o4"]).command else { panic!() };
        assert_eq!(k.lease, 0);
    }

    #[test]
    fn query_command() {
        let Command::Query(q) = parse(&["query", "MediaServer"]).command else { panic!() };
        assert_eq!((q.constraint.as_str(), q.preference.as_str()), ("", ""));
        assert_eq!(q.props, DesiredProps::All);
        assert_eq!((q.how_many, q.all_pages), (None, false));
        let Command::Query(q) = parse(&[
            "query",
            "MediaServer",
            "load < 0.5",
            "--pref",
            "min load",
            "--props",
            "host, load",
            "--how-many",
            "5",
            "--policy",
            "exact_type_match=true",
            "--policy",
            "link_follow_rule=if_no_local",
            "--all-pages",
        ])
        .command
        else {
            panic!()
        };
        assert_eq!((q.constraint.as_str(), q.preference.as_str()), ("load < 0.5", "min load"));
        assert_eq!(q.props, DesiredProps::Named(vec!["host".into(), "load".into()]));
        assert_eq!((q.how_many, q.all_pages), (Some(5), true));
        let policies: Vec<Policy> = q.policies.into_iter().map(|p| p.0).collect();
        assert_eq!(
            policies,
            [
                Policy::new("exact_type_match", Value::bool(true)),
                Policy::new("link_follow_rule", Value::string("if_no_local"))
            ]
        );
        let Command::Query(q) = parse(&["query", "T", "--props", "none"]).command else { panic!() };
        assert_eq!(q.props, DesiredProps::None);
        assert!(
            parse_err(&["query", "T", "--props", "a,,b"])
                .to_string()
                .contains("property names separated by commas")
        );
        assert_eq!(
            parse_err(&["query", "T", "--how-many", "-1"]).kind(),
            clap::error::ErrorKind::UnknownArgument
        );
        assert!(parse_err(&["query", "T", "--policy", "x"]).to_string().contains("expected NAME=VALUE"));
    }

    #[test]
    fn next_page_command() {
        let Command::NextPage(n) = parse(&["next-page", "tok", "--how-many", "20"]).command else { panic!() };
        assert_eq!((n.token.as_str(), n.how_many, n.all_pages), ("tok", Some(20), false));
    }

    #[test]
    fn admin_commands() {
        assert!(matches!(parse(&["admin", "policies"]).command, Command::Admin(AdminCommand::Policies)));
        assert!(matches!(parse(&["admin", "stats"]).command, Command::Admin(AdminCommand::Stats)));
        let Command::Admin(AdminCommand::Offers { service_type }) =
            parse(&["admin", "offers", "--type", "T"]).command
        else {
            panic!()
        };
        assert_eq!(service_type.as_deref(), Some("T"));
        let Command::Admin(AdminCommand::Set { settings }) =
            parse(&["admin", "set", "max_return_card=500", "def_follow_rule=if_no_local"]).command
        else {
            panic!()
        };
        assert_eq!(settings.len(), 2);
        assert_eq!(parse_err(&["admin", "set"]).kind(), clap::error::ErrorKind::MissingRequiredArgument);
        let err = parse_err(&["admin", "set", "max_cards=5"]);
        assert!(err.to_string().contains("unknown setting 'max_cards'"), "{err}");
        let err = parse_err(&["admin", "set", "max_return_card=lots"]);
        assert!(err.to_string().contains("max_return_card: expected uint64"), "{err}");
    }

    #[test]
    fn every_command_has_help() {
        fn check(command: &clap::Command, path: &str) {
            let path = format!("{path} {}", command.get_name());
            assert!(command.get_about().is_some(), "{path} has no about");
            for arg in command.get_arguments() {
                if arg.get_id() != "help" && arg.get_id() != "version" {
                    assert!(arg.get_help().is_some(), "{path} {} has no help", arg.get_id());
                }
            }
            for sub in command.get_subcommands() {
                check(sub, &path);
            }
        }
        let mut command = Cli::command();
        command.build();
        check(&command, "");
        let help = command.render_long_help().to_string();
        assert!(help.contains("Exit status:") && help.contains("BOURSE_BROKER"), "{help}");
    }
}
