//! `bourse types ...`: the service-type repository (list, show, add from a
//! type file, remove, mask, unmask).

use std::path::Path;

use bourse_proto::{
    AddTypeRequest, DescribeTypeRequest, ListTypesRequest, MaskTypeRequest, RemoveTypeRequest, ServiceType,
    typefile,
};
use serde_json::json;

use super::Context;
use crate::cli::TypesCommand;
use crate::error::CliError;
use crate::render::{service_type_human, service_type_json};

pub async fn run(ctx: &mut Context<'_>, command: &TypesCommand) -> Result<(), CliError> {
    match command {
        TypesCommand::List { since } => list(ctx, *since).await,
        TypesCommand::Show { name, full } => show(ctx, name, *full).await,
        TypesCommand::Add { file } => add(ctx, file).await,
        TypesCommand::Remove { name } => remove(ctx, name).await,
        TypesCommand::Mask { name } => mask(ctx, name, true).await,
        TypesCommand::Unmask { name } => mask(ctx, name, false).await,
    }
}

async fn list(ctx: &mut Context<'_>, since: Option<u64>) -> Result<(), CliError> {
    let broker = ctx.connect().await?;
    let reply = broker
        .types()
        .list_types(broker.request(ListTypesRequest { since_incarnation: since }))
        .await
        .map_err(|s| broker.error(s))?
        .into_inner();
    ctx.emit(
        |_| {
            let mut text: String = reply.names.iter().map(|name| format!("{name}\n")).collect();
            text.push_str(&format!("incarnation {}\n", reply.incarnation));
            text
        },
        || json!({ "names": reply.names, "incarnation": reply.incarnation }),
    )
}

async fn show(ctx: &mut Context<'_>, name: &str, full: bool) -> Result<(), CliError> {
    let broker = ctx.connect().await?;
    let request = broker.request(DescribeTypeRequest { name: name.to_string() });
    let mut client = broker.types();
    let reply =
        if full { client.fully_describe_type(request).await } else { client.describe_type(request).await };
    let service_type = reply.map_err(|s| broker.error(s))?.into_inner();
    ctx.emit(|width| service_type_human(&service_type, width), || service_type_json(&service_type))
}

/// Reads and parses a type file; every error names the file.
pub fn read_type_file(path: &Path) -> Result<Vec<ServiceType>, CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", path.display())))?;
    let types = typefile::parse(&text).map_err(|e| CliError::Usage(format!("{}: {e}", path.display())))?;
    if types.is_empty() {
        return Err(CliError::Usage(format!("{}: declares no [[type]]", path.display())));
    }
    Ok(types)
}

async fn add(ctx: &mut Context<'_>, file: &Path) -> Result<(), CliError> {
    let types = read_type_file(file)?;
    let broker = ctx.connect().await?;
    let mut added: Vec<(String, u64)> = Vec::new();
    for service_type in types {
        let name = service_type.name.clone();
        let reply =
            broker.types().add_type(broker.request(AddTypeRequest { r#type: Some(service_type) })).await;
        let incarnation = match reply {
            Ok(reply) => reply.into_inner().incarnation,
            Err(status) => {
                let mut error = broker.error(status);
                if let CliError::Broker(broker_error) = &mut error {
                    broker_error.message = format!("adding type '{name}': {}", broker_error.message);
                    if !added.is_empty() {
                        let names: Vec<&str> = added.iter().map(|(n, _)| n.as_str()).collect();
                        broker_error.message.push_str(&format!(" (added before it: {})", names.join(", ")));
                    }
                }
                return Err(error);
            }
        };
        ctx.progress(&format!("added {name} (incarnation {incarnation})"))?;
        added.push((name, incarnation));
    }
    ctx.emit(
        |_| String::new(),
        || json!({ "added": added.iter().map(|(name, inc)| json!({"name": name, "incarnation": inc})).collect::<Vec<_>>() }),
    )
}

async fn remove(ctx: &mut Context<'_>, name: &str) -> Result<(), CliError> {
    let broker = ctx.connect().await?;
    broker
        .types()
        .remove_type(broker.request(RemoveTypeRequest { name: name.to_string() }))
        .await
        .map_err(|s| broker.error(s))?;
    ctx.emit(|_| format!("removed {name}\n"), || json!({ "removed": name }))
}

async fn mask(ctx: &mut Context<'_>, name: &str, masked: bool) -> Result<(), CliError> {
    let broker = ctx.connect().await?;
    let request = broker.request(MaskTypeRequest { name: name.to_string() });
    let mut client = broker.types();
    let reply = if masked { client.mask_type(request).await } else { client.unmask_type(request).await };
    let incarnation = reply.map_err(|s| broker.error(s))?.into_inner().incarnation;
    let verb = if masked { "masked" } else { "unmasked" };
    ctx.emit(
        |_| format!("{verb} {name} (incarnation {incarnation})\n"),
        || json!({ "name": name, "masked": masked, "incarnation": incarnation }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_file_errors_name_the_file() {
        let dir = std::env::temp_dir().join(format!("bourse-selector-types-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let good = dir.join("good.toml");
        std::fs::write(&good, typefile::MEDIA_SERVER_TYPES).expect("write");
        let types = read_type_file(&good).expect("built-in type file");
        assert_eq!(types[0].name, "MediaServer");

        let bad = dir.join("bad.toml");
        std::fs::write(&bad, "[[type]]\nname='T'\n[[type.property]]\nname='p'\ntype='int'\n").expect("write");
        let err = read_type_file(&bad).expect_err("bad type").to_string();
        assert!(
            err.starts_with(&format!("{}: type 'T', property 'p': unknown value type 'int'", bad.display())),
            "{err}"
        );

        let empty = dir.join("empty.toml");
        std::fs::write(&empty, "# nothing\n").expect("write");
        assert_eq!(
            read_type_file(&empty).expect_err("empty").to_string(),
            format!("{}: declares no [[type]]", empty.display())
        );

        let missing = dir.join("missing.toml");
        let err = read_type_file(&missing).expect_err("missing");
        assert!(matches!(err, CliError::Usage(_)));
        assert!(err.to_string().starts_with(&format!("cannot read {}: ", missing.display())), "{err}");
        std::fs::remove_dir_all(&dir).expect("clean up");
    }
}
