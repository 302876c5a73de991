using System.Management.Automation;
using PgBackupTools.Core.Errors;
using PgBackupTools.Core.Postgres;
using PgBackupTools.Core.Repository;
using PgBackupTools.Core.Storage;
using PgBackupTools.Core.Wal;
using PgBackupTools.Infrastructure;

namespace PgBackupTools.Cmdlets;

/// <summary>
/// Turns on continuous WAL archiving into a repository: ALTER SYSTEM for wal_level, archive_mode, archive_command
/// (the pgbt-wal entry point of this module) and archive_timeout, then pg_reload_conf(). Says whether a restart is needed.
/// An encrypted repository needs -PassphraseFile, which archive_command names with --passphrase-file. -Passphrase and
/// -PassphraseVariable are refused: PostgreSQL runs pgbt-wal later, as its own OS user, in its own environment, so
/// neither a SecureString of this session nor a variable of this shell reaches it, and a passphrase on its command
/// line would be readable by every user. This cmdlet cannot see the server's environment either, so it does not
/// guess that PGBACKUPTOOLS_PASSPHRASE is set there; that route is documented for setting archive_command by hand.
/// </summary>
[Cmdlet(VerbsLifecycle.Enable, "PgWalArchiving", SupportsShouldProcess = true, ConfirmImpact = ConfirmImpact.Medium)]
[OutputType(typeof(PgWalArchivingResult))]
public sealed class EnablePgWalArchivingCommand : PgConnectedCmdlet
{
    [RepositoryTransformation]
    [ArgumentCompleter(typeof(RepositoryCompleter))]
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    public string Repository { get; set; } = "";

    [Parameter]
    [ValidateNotNullOrEmpty]
    public string Stanza { get; set; } = WalArchive.DefaultStanza;

    /// <summary>Seconds after which PostgreSQL switches to a new segment even if it is not full: the most WAL a lost server can take with it.</summary>
    [Parameter]
    [ValidateRange(0, 86400)]
    public int ArchiveTimeout { get; set; } = 60;

    /// <summary>The pgbt-wal executable archive_command runs; by default the one in this module's bin folder.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? EntryPointPath { get; set; }

    protected override void ProcessRecord()
    {
        var connection = ResolveConnection();
        string repository = ResolveRepositoryLocation(Repository);
        string entryPoint = EntryPointPath is null
            ? System.IO.Path.Combine(System.IO.Path.GetDirectoryName(typeof(EnablePgWalArchivingCommand).Assembly.Location)!, "bin", WalCommands.EntryPointFileName)
            : GetUnresolvedProviderPathFromPSPath(EntryPointPath);
        RunOrThrow(connection.Server, async context =>
        {
            if (!File.Exists(entryPoint))
                throw new PgBackupException(FailureKind.NotInstalled,
                    $"The archive entry point {entryPoint} is missing: reinstall the module (build.ps1 Build publishes it into bin/), or give -EntryPointPath.", entryPoint);
            RepositoryNames.ValidateStanza(Stanza);
            var passphrase = GetPassphraseSource();
            if (Passphrase is not null || PassphraseVariable is not null)
                throw new PgBackupException(FailureKind.InvalidArgument,
                    "archive_command cannot use -Passphrase or -PassphraseVariable: PostgreSQL runs pgbt-wal later, as its own OS user and in its own " +
                    "environment, so this session's passphrase never reaches it (and a passphrase on its command line would be readable by every user). " +
                    "Give -PassphraseFile <path>: a file holding the passphrase, owned by the OS user that runs PostgreSQL and readable only by it " +
                    "(chmod 600); archive_command then reads it with --passphrase-file.", repository);
            string? keyFile = PassphraseFile is null ? null : GetUnresolvedProviderPathFromPSPath(PassphraseFile);

            // Is the repository there, and encrypted? A given key file is checked against it now, before anything changes.
            bool exists = true, encrypted = false;
            try
            {
                using var existing = await BackupRepository.OpenAsync(repository, create: false, context.CancellationToken, passphrase, keyRequired: passphrase is not null);
                encrypted = existing.IsEncrypted;
            }
            catch (PgBackupException e) when (e.Kind == FailureKind.NotFound)
            {
                exists = false;
            }
            if (encrypted && keyFile is null)
                throw new PgBackupException(FailureKind.InvalidArgument,
                    $"The repository at {repository} is encrypted, so archive_command needs its passphrase. Give -PassphraseFile <path>: a file holding the " +
                    "passphrase, owned by the OS user that runs PostgreSQL and readable only by it (chmod 600). (To use the environment variable " +
                    $"{RepositoryPassphrase.DefaultVariable} in the server's environment instead, set archive_command yourself: see docs/wal-archiving.md.)", repository);
            if (!exists && keyFile is null && !string.IsNullOrEmpty(Environment.GetEnvironmentVariable(RepositoryPassphrase.DefaultVariable)))
                throw new PgBackupException(FailureKind.InvalidArgument,
                    $"There is no repository at {repository} yet, and {RepositoryPassphrase.DefaultVariable} is set, so it would be created encrypted while " +
                    "archive_command had no passphrase. Give -PassphraseFile <path> (a chmod 600 file owned by the OS user that runs PostgreSQL), " +
                    "or create the repository first with New-PgRepository.", repository);

            // PostgreSQL runs archive_command as its own OS user: when that user is known here (a local repository, the
            // data directory on this host), an existing repository it cannot write is refused now, before anything changes.
            var serverUser = await ArchiveRepositoryAccess.FindServerUserAsync(connection, repository, context.CancellationToken);
            bool directoryExisted = serverUser is not null && Directory.Exists(repository);
            if (serverUser is not null && (exists || directoryExisted))
                ArchiveRepositoryAccess.EnsureWritable(serverUser, repository, Stanza);
            else if (serverUser is not null)
                ArchiveRepositoryAccess.EnsureReachable(serverUser, repository); // a new one: refused before it is created, too

            var plan = await WalArchivingSetup.PlanAsync(connection, entryPoint, repository, Stanza, ArchiveTimeout, context.CancellationToken, keyFile);
            var changes = plan.Settings.Where(s => s.Changed).ToList();
            if (changes.Count == 0)
            {
                context.Log($"{connection.Server} already archives into {repository} (stanza '{Stanza}').");
                PostObject(plan);
                return;
            }
            string description = "ALTER SYSTEM SET " + string.Join(", ", changes.Select(c => $"{c.Name} = '{c.After}' (was '{c.Before}')")) +
                "; SELECT pg_reload_conf()" + (plan.RestartRequired ? " (then a restart is needed)" : "");
            bool go = false;
            var decided = new TaskCompletionSource();
            Post(() => { go = ShouldProcess(connection.Server, description); decided.SetResult(); });
            await decided.Task;
            if (!go) return;
            // The repository must exist before the first segment arrives (a push never creates one: a typo in a path
            // must not silently become a new archive). The server's OS user must be able to write it.
            using (await BackupRepository.OpenAsync(repository, create: true, context.CancellationToken, passphrase)) { } // with a key file: created encrypted
            if (serverUser is not null && !exists)
            {
                if (UnixFileOwner.IsRoot)
                {
                    string given = ArchiveRepositoryAccess.HandOver(serverUser, repository, directoryIsNew: !directoryExisted);
                    context.Log($"Gave the new repository {given} to '{serverUser.Name}' ({serverUser.Uid}:{serverUser.Gid}), the OS user that owns {serverUser.DataDirectory} and runs archive_command.");
                }
                ArchiveRepositoryAccess.EnsureWritable(serverUser, repository, Stanza);
            }
            await WalArchivingSetup.ApplyAsync(connection, plan, context.CancellationToken);
            if (plan.RestartRequired)
                context.Warn($"wal_level/archive_mode change on {connection.Server} only after a restart (pg_ctl restart / systemctl restart postgresql): WAL is not archived until then.");
            if (RepositoryLocation.IsUrl(repository))
                // This session's credentials (New-PgRepository, its environment) never reach the server's pgbt-wal, and none belong in archive_command.
                context.Warn($"PostgreSQL runs archive_command in its own environment: give the server the credentials for {repository} there " +
                    "(an instance role or managed identity, or AWS_*/AZURE_STORAGE_* variables in its service environment; see docs/wal-archiving.md), " +
                    "then check with Test-PgWalArchive that segments arrive.");
            PostObject(plan);
        });
    }
}
