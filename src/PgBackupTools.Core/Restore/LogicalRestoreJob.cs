using System.Diagnostics;
using Npgsql;
using PgBackupTools.Core.Errors;
using PgBackupTools.Core.Postgres;
using PgBackupTools.Core.Repository;

namespace PgBackupTools.Core.Restore;

/// <summary>
/// Restores a logical backup with the stock psql / pg_restore into a fresh staging database, checking every
/// checksum, and only then puts it in place under the target name. A failed or damaged restore leaves the target
/// as it was (absent, or the old database untouched) and drops the staging database.
/// </summary>
public static class LogicalRestoreJob
{
    public static async Task<PgRestoreResult> RunAsync(BackupRepository repository, PgBackup backup, PgConnectionInfo server,
        LogicalRestoreOptions options, OperationContext context)
    {
        var ct = context.CancellationToken;
        if (backup.Type != BackupType.Logical)
            throw new PgBackupException(FailureKind.InvalidArgument, $"Backup {backup.Id} is a {backup.Type} backup; restoring it into a database needs a logical backup.", backup.Id);
        if (string.IsNullOrEmpty(options.TargetDatabase))
            throw new PgBackupException(FailureKind.InvalidArgument, "Give -TargetDatabase: the name the restored database gets.");
        if (options.ScratchPurpose is null && ScratchDatabases.IsScratchName(options.TargetDatabase))
            throw new PgBackupException(FailureKind.InvalidArgument,
                $"'{options.TargetDatabase}' is named like a scratch database of this module (pgbt_restore_*, pgbt_test_*), which later runs may drop once abandoned. Choose another -TargetDatabase.", options.TargetDatabase);
        // In an encrypted repository, restore what the authenticated manifest says, not what the pipeline brought.
        backup = await repository.GetAuthenticatedBackupAsync(backup, ct).ConfigureAwait(false);
        bool encrypted = backup.Files.Any(f => f.Encrypted);
        if (encrypted && options.Jobs > 1)
        {
            // Parallel pg_restore needs a seekable file on disk, so it would need the whole archive decrypted to a
            // plaintext temp file: a full unprotected copy of the database that a crash could leave behind (Laws 3, 4).
            // An encrypted archive is streamed through pg_restore's standard input instead, which allows one job.
            throw new PgBackupException(FailureKind.InvalidArgument,
                $"Backup {backup.Id} is encrypted; it is restored by streaming it through pg_restore, which allows only one job. Leave out -Jobs (or use -Jobs 1).", options.Jobs);
        }

        var maintenance = server.WithDatabase("postgres");
        await using var admin = await PgServer.OpenAsync(maintenance, ct).ConfigureAwait(false);
        bool targetExists = await PgServer.DatabaseExistsAsync(admin, options.TargetDatabase, ct).ConfigureAwait(false);
        if (targetExists && !options.Replace)
            throw new PgBackupException(FailureKind.AlreadyExists,
                $"Database '{options.TargetDatabase}' already exists on {server.Server}. Use -Force to replace it, or choose another -TargetDatabase.", options.TargetDatabase);
        var facts = await PgServer.GetFactsAsync(admin, ct).ConfigureAwait(false);
        await ScratchDatabases.CleanUpAbandonedAsync(admin, server.Server, context).ConfigureAwait(false);

        var start = DateTimeOffset.UtcNow;
        var clock = Stopwatch.StartNew();
        string staging = ScratchDatabases.NewName(ScratchDatabases.RestorePrefix);
        var marker = ScratchDatabaseMarker.ForThisProcess(options.ScratchPurpose ?? ScratchDatabases.RestorePurpose);
        await CreateDatabaseAsync(admin, staging, backup, ct).ConfigureAwait(false);
        context.Log($"Restoring backup {backup.Id} of '{backup.Database}' into staging database {staging} on {server.Server}.");
        bool placed = false;
        try
        {
            // Marked at once (CREATE DATABASE cannot share a transaction with it), so that a kill from here on leaves a
            // database the next run can prove abandoned and drop.
            await ScratchDatabases.MarkAsync(admin, staging, marker, ct).ConfigureAwait(false);
            var meter = new ProgressMeter(context, $"Restore of backup {backup.Id} into '{options.TargetDatabase}'", backup.SizeBytes);
            var target = server.WithDatabase(staging);
            long restored = backup.Format switch
            {
                DumpFormat.Plain => await RestorePlainAsync(repository, backup, target, facts, meter, context).ConfigureAwait(false),
                _ => await RestoreArchiveAsync(repository, backup, target, facts, options.Jobs, meter, context).ConfigureAwait(false),
            };
            string? replaced = targetExists ? ScratchDatabases.NewName(ScratchDatabases.ReplacedPrefix) : null;
            // Recorded before the first rename: a kill between the two renames leaves the target name free and this copy
            // the one the user asked for, which the clean-up must then report, not drop.
            await ScratchDatabases.MarkAsync(admin, staging, marker with { Phase = ScratchDatabaseMarker.PlacingPhase, TargetDatabase = options.TargetDatabase, ReplacedDatabase = replaced }, ct).ConfigureAwait(false);
            await PlaceAsync(admin, staging, options.TargetDatabase, replaced, context).ConfigureAwait(false);
            placed = true;
            try
            {
                if (options.ScratchPurpose is { } purpose)
                    await ScratchDatabases.MarkAsync(admin, options.TargetDatabase, ScratchDatabaseMarker.ForThisProcess(purpose), CancellationToken.None).ConfigureAwait(false);
                else
                    await ScratchDatabases.UnmarkAsync(admin, options.TargetDatabase, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception e) when (e is NpgsqlException or InvalidOperationException)
            {
                // The restore is done and in place; a marker left on it is harmless (its name is not a scratch name).
                context.Warn($"Database '{options.TargetDatabase}' is restored, but its PgBackupTools marker could not be updated: {e.Message}. COMMENT ON DATABASE {PgServer.QuoteIdentifier(options.TargetDatabase)} IS NULL removes it.");
            }
            return new PgRestoreResult
            {
                BackupId = backup.Id, Type = backup.Type, SourceDatabase = backup.Database, TargetDatabase = options.TargetDatabase,
                Server = server.Server, StartTime = start, Duration = clock.Elapsed, RestoredBytes = restored, Replaced = targetExists,
            };
        }
        finally
        {
            if (!placed) await DropQuietlyAsync(admin, staging, context).ConfigureAwait(false);
        }
    }

    private static async Task CreateDatabaseAsync(NpgsqlConnection admin, string name, PgBackup backup, CancellationToken ct)
    {
        string sql = $"CREATE DATABASE {PgServer.QuoteIdentifier(name)} TEMPLATE template0";
        if (backup.DatabaseEncoding is { } enc) sql += $" ENCODING {PgServer.QuoteLiteral(enc)}";
        if (backup.DatabaseCollate is { } col) sql += $" LC_COLLATE {PgServer.QuoteLiteral(col)}";
        if (backup.DatabaseCtype is { } ctype) sql += $" LC_CTYPE {PgServer.QuoteLiteral(ctype)}";
        try
        {
            await using var cmd = new NpgsqlCommand(sql, admin);
            await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }
        catch (PostgresException e)
        {
            throw new PgBackupException(FailureKind.OperationFailed,
                $"Cannot create the database to restore into: {e.MessageText}. The backup needs encoding {backup.DatabaseEncoding} and locale {backup.DatabaseCollate} on this server.", name, e);
        }
    }

    private static async Task<long> RestorePlainAsync(BackupRepository repository, PgBackup backup, PgConnectionInfo target, ServerFacts facts,
        ProgressMeter meter, OperationContext context)
    {
        var ct = context.CancellationToken;
        string psql = PgClientTools.Find("psql", facts.MajorVersion);
        var args = new[] { "-X", "-q", "--no-password", "-v", "ON_ERROR_STOP=1", "-o", OperatingSystem.IsWindows() ? "NUL" : "/dev/null", "-f", "-", "-d", target.ToLibpqDatabaseArgument() };
        context.Log($"Running {psql} {string.Join(' ', args)}");
        var file = backup.Files.Single();
        await using var process = PgToolProcess.Start(psql, target, args, redirectStdin: true, redirectStdout: false);
        long bytes;
        try
        {
            bytes = await BackupFileReader.CopyVerifiedAsync(repository, backup, file, process.StandardInput, meter.Add, ct).ConfigureAwait(false);
        }
        catch (IOException e)
        {
            // psql stopped reading: it failed, and its own message says why.
            process.Kill();
            await Task.Delay(100, CancellationToken.None).ConfigureAwait(false);
            throw new PgBackupException(FailureKind.ToolFailed, $"psql stopped during the restore: {process.StandardErrorText} ({e.Message})", "psql", e);
        }
        process.StandardInput.Close();
        await process.WaitForSuccessAsync(ct).ConfigureAwait(false);
        return bytes;
    }

    private static async Task<long> RestoreArchiveAsync(BackupRepository repository, PgBackup backup, PgConnectionInfo target, ServerFacts facts,
        int jobs, ProgressMeter meter, OperationContext context)
    {
        var ct = context.CancellationToken;
        string pgRestore = PgClientTools.Find("pg_restore", facts.MajorVersion);
        var args = new List<string> { "--no-password", "--exit-on-error", "-d", target.ToLibpqDatabaseArgument() };
        string archiveName = backup.Format == DumpFormat.Directory ? "database.dir" : backup.Files.Single().Name;
        // An encrypted archive cannot be handed to pg_restore as a file: it is decrypted on its way into stdin.
        string? localPath = backup.Files.Any(f => f.Encrypted) ? null
            : repository.Store.TryGetLocalPath(BackupRepository.BackupFileKey(backup.Stanza, backup.Id, archiveName));
        if (localPath is not null)
        {
            // pg_restore reads the archive itself (it seeks, and -j needs a file), so every checksum is proven first.
            meter.Status = "verifying checksums";
            await BackupFileReader.VerifyAllAsync(repository, backup, meter.Add, ct).ConfigureAwait(false);
            if (jobs > 1) args.AddRange(["-j", jobs.ToString()]);
            args.Add(localPath);
            meter.Status = "pg_restore";
            context.Log($"Running {pgRestore} {string.Join(' ', args)}");
            await using var process = PgToolProcess.Start(pgRestore, target, args, redirectStdout: false);
            await process.WaitForSuccessAsync(ct).ConfigureAwait(false);
            return backup.SizeBytes;
        }
        if (backup.Format == DumpFormat.Directory)
            throw new PgBackupException(FailureKind.InvalidArgument, "A directory-format backup can only be restored from a file-system repository.", backup.Id);
        context.Log($"Running {pgRestore} {string.Join(' ', args)} (archive on standard input)");
        await using var streamed = PgToolProcess.Start(pgRestore, target, args, redirectStdin: true, redirectStdout: false);
        long bytes = await BackupFileReader.CopyVerifiedAsync(repository, backup, backup.Files.Single(), streamed.StandardInput, meter.Add, ct).ConfigureAwait(false);
        streamed.StandardInput.Close();
        await streamed.WaitForSuccessAsync(ct).ConfigureAwait(false);
        return bytes;
    }

    /// <summary>Gives the staging database the target's name; an existing target is moved aside first and dropped only once the new one is in place.</summary>
    private static async Task PlaceAsync(NpgsqlConnection admin, string staging, string target, string? old, OperationContext context)
    {
        var ct = context.CancellationToken;
        if (old is not null)
        {
            context.Log($"Replacing database '{target}': disconnecting its sessions and renaming it to {old}.");
            await ExecAsync(admin, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", ct, target).ConfigureAwait(false);
            await ExecAsync(admin, $"ALTER DATABASE {PgServer.QuoteIdentifier(target)} RENAME TO {PgServer.QuoteIdentifier(old)}", ct).ConfigureAwait(false);
        }
        try
        {
            await ExecAsync(admin, $"ALTER DATABASE {PgServer.QuoteIdentifier(staging)} RENAME TO {PgServer.QuoteIdentifier(target)}", ct).ConfigureAwait(false);
        }
        catch when (old is not null)
        {
            await ExecAsync(admin, $"ALTER DATABASE {PgServer.QuoteIdentifier(old)} RENAME TO {PgServer.QuoteIdentifier(target)}", CancellationToken.None).ConfigureAwait(false);
            throw;
        }
        if (old is not null) await ExecAsync(admin, $"DROP DATABASE {PgServer.QuoteIdentifier(old)} WITH (FORCE)", CancellationToken.None).ConfigureAwait(false);
    }

    internal static async Task DropQuietlyAsync(NpgsqlConnection admin, string database, OperationContext context)
    {
        try
        {
            await ExecAsync(admin, $"DROP DATABASE IF EXISTS {PgServer.QuoteIdentifier(database)} WITH (FORCE)", CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (e is NpgsqlException or InvalidOperationException)
        {
            context.Warn($"Could not drop the scratch database '{database}': {e.Message}. Drop it by hand.");
        }
    }

    private static async Task ExecAsync(NpgsqlConnection connection, string sql, CancellationToken ct, params object[] parameters)
    {
        await using var cmd = new NpgsqlCommand(sql, connection);
        foreach (var p in parameters) cmd.Parameters.Add(new NpgsqlParameter { Value = p });
        await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
    }
}
