using System.Management.Automation;
using PgBackupTools.Core;
using PgBackupTools.Core.Errors;
using PgBackupTools.Core.Repository;
using PgBackupTools.Infrastructure;

namespace PgBackupTools.Cmdlets;

/// <summary>
/// Lists the backups of a repository, from their manifests only: an encrypted repository lists without its
/// passphrase. A passphrase given anyway is checked (a quick way to test one) and otherwise unused.
/// </summary>
[Cmdlet(VerbsCommon.Get, "PgBackup")]
[OutputType(typeof(PgBackup))]
public sealed class GetPgBackupCommand : PgRepositoryCmdlet
{
    [ArgumentCompleter(typeof(RepositoryCompleter))]
    [RepositoryTransformation]
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string Repository { get; set; } = "";

    [ArgumentCompleter(typeof(BackupDatabaseCompleter))]
    [Parameter]
    [SupportsWildcards]
    public string[]? Database { get; set; }

    [ArgumentCompleter(typeof(StanzaCompleter))]
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? Stanza { get; set; }

    /// <summary>Exact ids; an id that names no backup writes an ObjectNotFound error.</summary>
    [ArgumentCompleter(typeof(BackupIdCompleter))]
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string[]? Id { get; set; }

    [Parameter]
    public BackupType? Type { get; set; }

    /// <summary>Only the newest backup of each database (logical) or stanza (physical).</summary>
    [Parameter]
    public SwitchParameter Latest { get; set; }

    protected override void ProcessRecord()
    {
        RunOrThrow(Repository, async context =>
        {
            foreach (var id in Id ?? []) RepositoryNames.ValidateBackupId(id);
            var repository = await OpenRepositoryAsync(ResolveRepositoryLocation(Repository), create: false, context, keyRequired: false);
            RecentRepositories.Remember(repository.Location);
            var backups = await repository.ListBackupsAsync(Stanza, context);
            var patterns = Database?.Select(d => new WildcardPattern(d, WildcardOptions.IgnoreCase)).ToList();
            IEnumerable<PgBackup> selected = backups
                .Where(b => Id is null || Id.Contains(b.Id, StringComparer.Ordinal))
                .Where(b => Type is null || b.Type == Type)
                .Where(b => patterns is null || b.Database is not null && patterns.Any(p => p.IsMatch(b.Database)));
            if (Latest)
                selected = selected.GroupBy(b => (b.Stanza, b.Type, b.Database)).Select(g => g.MaxBy(b => b.StartTime)!).OrderBy(b => b.StartTime);
            foreach (var backup in selected) PostObject(backup);
            // An exact id that names nothing is an error, as Get-Process -Id is: a runbook piping it into
            // Restore-PgDatabase must not "succeed" by restoring nothing. -ErrorAction SilentlyContinue tests for absence.
            foreach (var id in (Id ?? []).Where(id => !backups.Any(b => b.Id == id)).Distinct(StringComparer.Ordinal))
            {
                var notFound = new PgBackupException(FailureKind.NotFound,
                    $"No backup with id '{id}' is in repository {repository.Location}{(Stanza is null ? "" : $" (stanza '{Stanza}')")}, or its manifest is damaged (a warning then names it). " +
                    $"List the backups with: Get-PgBackup -Repository '{repository.Location}'", id);
                Post(() => WriteError(ToErrorRecord(notFound, id)));
            }
        });
    }
}
