//! `age-plugin-vigie`: the recipient's side of Vigie's sealed extracts.
//!
//! An extract sealed by Vigie (see `vigie_seal`) carries one `vigie` stanza, which opens only
//! with the recipient's X25519 key *and* the extract's opening secret, which Vigie releases
//! while the extract is within its retention and not declared deleted, ledgering each
//! release. Any age client (Debian's `age` 1.1, rage) runs this binary for an
//! `AGE-PLUGIN-VIGIE-1…` identity:
//!
//! ```text
//! age-plugin-vigie --generate --url https://vigie.example.fr -o vigie-identity.txt
//! age --decrypt -i vigie-identity.txt -o extract.csv X12.csv.age
//! ```
//!
//! The plugin asks `POST <url>/v1/extracts/<X>/open` with a request signed by the identity's
//! Ed25519 key (the key the extract request registered for receipts), opens the reply (sealed
//! to the identity's X25519 key) and unwraps the file key. After expiry, or once the recipient
//! confirmed deletion, Vigie answers 410 and the file does not open; the attempt is ledgered and
//! raised as an alert.

use std::collections::HashMap;
use std::io;
use std::time::Duration;

use age_core_plugin::format::{FileKey, Stanza};
use age_plugin::identity::{self, IdentityPluginV1};
use age_plugin::recipient::RecipientPluginV1;
use age_plugin::{Callbacks, PluginHandler};
use vigie_seal::{Identity, OpenReply, OpenRequest, STANZA_TAG, SealedStanza};

/// How long the plugin waits for Vigie.
const TIMEOUT: Duration = Duration::from_secs(30);

/// The age plugin handler: identities only (Vigie itself writes the stanzas).
#[derive(Debug, Default)]
pub struct Handler;

impl PluginHandler for Handler {
    type RecipientV1 = std::convert::Infallible;
    type IdentityV1 = Plugin;

    fn identity_v1(self) -> io::Result<Plugin> {
        Ok(Plugin::default())
    }
}

/// The identity-v1 state machine's state: the identities the client gave.
#[derive(Debug, Default)]
pub struct Plugin {
    identities: Vec<Identity>,
}

/// Why Vigie did not release an opening secret.
#[derive(Debug)]
pub enum AskError {
    /// Vigie answered, and refused (its problem detail).
    Refused { status: u16, detail: String },
    /// Vigie could not be reached, or answered nonsense.
    Transport(String),
}

impl std::fmt::Display for AskError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AskError::Refused { status: 410, detail } => write!(f, "Vigie no longer opens this file: {detail}"),
            AskError::Refused { status, detail } => write!(f, "Vigie refused ({status}): {detail}"),
            AskError::Transport(e) => f.write_str(e),
        }
    }
}

/// Asks Vigie at `identity.url()` for the opening secret of `extract`.
pub fn ask(identity: &Identity, extract: &str) -> Result<(OpenReply, vigie_seal::OpeningSecret), AskError> {
    let at = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .ok_or_else(|| AskError::Transport("the system clock is unreadable".into()))?;
    let request = OpenRequest::new(identity, extract, &at);
    let url = format!("{}/v1/extracts/{extract}/open", identity.url());
    let client = reqwest::blocking::Client::builder()
        .timeout(TIMEOUT)
        .user_agent(concat!("age-plugin-vigie/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| AskError::Transport(format!("cannot start an HTTP client: {e}")))?;
    let body = serde_json::to_vec(&request).map_err(|e| AskError::Transport(e.to_string()))?;
    let response = client
        .post(&url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .map_err(|e| AskError::Transport(format!("cannot reach Vigie at {}: {e}", identity.url())))?;
    let status = response.status().as_u16();
    let text = response.text().map_err(|e| AskError::Transport(format!("reading Vigie's answer: {e}")))?;
    if status != 200 {
        let detail = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v.get("detail").and_then(|d| d.as_str()).map(str::to_owned))
            .unwrap_or_else(|| text.chars().take(300).collect());
        return Err(AskError::Refused { status, detail });
    }
    let reply: OpenReply =
        serde_json::from_str(&text).map_err(|e| AskError::Transport(format!("Vigie's answer is not a reply: {e}")))?;
    let secret = reply.open(&request, identity).map_err(|e| AskError::Transport(e.to_string()))?;
    Ok((reply, secret))
}

impl Plugin {
    /// Tries the file's `vigie` stanzas with every identity: the file key, `None` if no stanza
    /// is Vigie's, or the errors met.
    fn unwrap_file(
        &self,
        file: usize,
        stanzas: &[Stanza],
        callbacks: &mut impl Callbacks<identity::Error>,
    ) -> io::Result<Option<Result<FileKey, Vec<identity::Error>>>> {
        let mut errors = Vec::new();
        let mut seen = false;
        for (i, s) in stanzas.iter().enumerate() {
            if s.tag != STANZA_TAG {
                continue;
            }
            seen = true;
            let stanza = match SealedStanza::from_parts(&s.args, &s.body) {
                Ok(st) => st,
                Err(e) => {
                    errors.push(identity::Error::Stanza { file_index: file, stanza_index: i, message: e.to_string() });
                    continue;
                }
            };
            for (index, id) in self.identities.iter().enumerate() {
                match ask(id, &stanza.extract) {
                    Ok((reply, secret)) => match stanza.unwrap(id, &secret) {
                        Ok(key) => {
                            let _ = callbacks.message(&format!(
                                "Vigie released {} (keep it no later than {}); this opening is recorded",
                                stanza.extract, reply.expires_on
                            ))?;
                            return Ok(Some(Ok(FileKey::new(Box::new(*key)))));
                        }
                        Err(e) => errors.push(identity::Error::Identity { index, message: e.to_string() }),
                    },
                    Err(e) => {
                        errors.push(identity::Error::Identity { index, message: format!("{}: {e}", stanza.extract) })
                    }
                }
            }
        }
        Ok(if seen { Some(Err(errors)) } else { None })
    }
}

impl IdentityPluginV1 for Plugin {
    fn add_identity(&mut self, index: usize, plugin_name: &str, bytes: &[u8]) -> Result<(), identity::Error> {
        if plugin_name != vigie_seal::PLUGIN_NAME {
            return Err(identity::Error::Identity {
                index,
                message: format!("not a {} identity", vigie_seal::PLUGIN_NAME),
            });
        }
        let id =
            Identity::from_bytes(bytes).map_err(|e| identity::Error::Identity { index, message: e.to_string() })?;
        self.identities.push(id);
        Ok(())
    }

    fn unwrap_file_keys(
        &mut self,
        files: Vec<Vec<Stanza>>,
        mut callbacks: impl Callbacks<identity::Error>,
    ) -> io::Result<HashMap<usize, Result<FileKey, Vec<identity::Error>>>> {
        let mut out = HashMap::new();
        for (file, stanzas) in files.iter().enumerate() {
            if let Some(r) = self.unwrap_file(file, stanzas, &mut callbacks)? {
                out.insert(file, r);
            }
        }
        Ok(out)
    }
}

/// Never used: Vigie writes the stanzas itself; the type only satisfies the handler.
pub type NoRecipients = std::convert::Infallible;
const _: fn() = || {
    fn is_recipient_plugin<T: RecipientPluginV1>() {}
    is_recipient_plugin::<NoRecipients>();
};

const USAGE: &str = "\
age-plugin-vigie: opens Vigie's sealed extracts, run by age for AGE-PLUGIN-VIGIE-1 identities.

  age-plugin-vigie --generate --url URL [-o FILE]
      makes an identity whose openings go to Vigie at URL (https://…), writes it to FILE
      (0600; standard output without -o) and prints the two keys an extract request needs:
      the recipient (age1vigie1…) and the receipt key (Ed25519, base64).
  age-plugin-vigie --receipt-key FILE
      prints the receipt key of the identity in FILE (what `vigie extract sign-receipt` signs with).
  age --decrypt -i FILE X12.csv.age
      decrypts, with this plugin on PATH.";

/// The binary's entry point: the plugin state machine for age, or a command for a person.
pub fn main_with(args: &[String]) -> Result<(), String> {
    let mut it = args.iter().skip(1);
    let mut generate = false;
    let mut url = None;
    let mut out = None;
    let mut receipt_of = None;
    while let Some(a) = it.next() {
        if let Some(sm) = a.strip_prefix("--age-plugin=") {
            return age_plugin::run_state_machine(sm, Handler).map_err(|e| format!("age-plugin-vigie: {e}"));
        }
        match a.as_str() {
            "--generate" => generate = true,
            "--url" => url = Some(it.next().ok_or("--url needs a value")?.clone()),
            "-o" | "--output" => out = Some(it.next().ok_or("-o needs a file")?.clone()),
            "--receipt-key" => receipt_of = Some(it.next().ok_or("--receipt-key needs a file")?.clone()),
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            "--version" => {
                println!("age-plugin-vigie {}", env!("CARGO_PKG_VERSION"));
                return Ok(());
            }
            other => return Err(format!("unknown argument {other:?}\n\n{USAGE}")),
        }
    }
    if let Some(file) = receipt_of {
        let id = read_identity(&file)?;
        println!("{}", id.receipt_key());
        return Ok(());
    }
    if !generate {
        return Err(USAGE.into());
    }
    let url = url.ok_or("--generate needs --url (Vigie's address, https://…)")?;
    let id = Identity::generate(&url).map_err(|e| e.to_string())?;
    let now =
        time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
    let text = format!(
        "# created: {now}\n# recipient: {}\n# receipt key: {}\n# Vigie: {}\n{}\n",
        id.recipient(),
        id.receipt_key(),
        id.url(),
        id.encode().as_str()
    );
    match out {
        Some(path) => {
            write_private(&path, text.as_bytes()).map_err(|e| format!("{path}: {e}"))?;
            eprintln!("identity written to {path}");
            println!("recipient: {}\nreceipt key: {}", id.recipient(), id.receipt_key());
        }
        None => print!("{text}"),
    }
    Ok(())
}

/// The first `AGE-PLUGIN-VIGIE-1…` line of an identity file.
pub fn read_identity(path: &str) -> Result<Identity, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| l.to_ascii_uppercase().starts_with("AGE-PLUGIN-VIGIE-1"))
        .ok_or_else(|| format!("{path}: no AGE-PLUGIN-VIGIE-1 identity in it"))?;
    Identity::parse(line).map_err(|e| format!("{path}: {e}"))
}

fn write_private(path: &str, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}
