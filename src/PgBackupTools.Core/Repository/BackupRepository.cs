using System.Text.Json;
using PgBackupTools.Core.Errors;
using PgBackupTools.Core.Storage;

namespace PgBackupTools.Core.Repository;

/// <summary>
/// The repository layout of DESIGN.md over any store:
/// repository.json, backups/&lt;stanza&gt;/&lt;id&gt;/... and backups/&lt;stanza&gt;/&lt;id&gt;/manifest.json (written last: the commit point).
/// </summary>
public sealed class BackupRepository
{
    public const string InfoKey = "repository.json";
    public const string ManifestName = "manifest.json";
    public static string ToolVersion { get; } = typeof(BackupRepository).Assembly.GetName().Version?.ToString(3) ?? "0.0.0";

    public IObjectStore Store { get; }
    public string Location => Store.Location;

    private BackupRepository(IObjectStore store) => Store = store;

    /// <summary>
    /// Opens the repository at <paramref name="location"/> (a directory path). With <paramref name="create"/> a missing
    /// repository is created; without it a missing one is an error that says how to create it.
    /// </summary>
    public static async Task<BackupRepository> OpenAsync(string location, bool create, CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(location))
            throw new PgBackupException(FailureKind.InvalidArgument, "No repository given: pass -Repository with a directory path.");
        var store = new FileSystemStore(location);
        var repository = new BackupRepository(store);
        var info = await repository.TryReadInfoAsync(cancellationToken).ConfigureAwait(false);
        if (info is null)
        {
            if (!create)
                throw new PgBackupException(FailureKind.NotFound,
                    $"There is no PgBackupTools repository at {store.Location} (no {InfoKey}). Invoke-PgBackup -Repository '{store.Location}' creates one.", store.Location);
            store.EnsureRoot();
            await repository.WriteInfoAsync(cancellationToken).ConfigureAwait(false);
        }
        else if (info.Format > RepositoryInfo.CurrentFormat)
        {
            throw new PgBackupException(FailureKind.InvalidData,
                $"The repository at {store.Location} has format {info.Format}; this PgBackupTools {ToolVersion} reads format {RepositoryInfo.CurrentFormat}. Update the module.", store.Location);
        }
        return repository;
    }

    private async Task<RepositoryInfo?> TryReadInfoAsync(CancellationToken cancellationToken)
    {
        try
        {
            await using var stream = await Store.OpenReadAsync(InfoKey, cancellationToken).ConfigureAwait(false);
            return await JsonSerializer.DeserializeAsync(stream, RepositoryJsonContext.Default.RepositoryInfo, cancellationToken).ConfigureAwait(false)
                ?? throw new JsonException("empty");
        }
        catch (ObjectNotFoundException)
        {
            return null;
        }
        catch (JsonException e)
        {
            throw new PgBackupException(FailureKind.InvalidData, $"{InfoKey} in {Store.Location} is not readable ({e.Message}). Was this folder made by PgBackupTools?", Store.Location, e);
        }
    }

    private async Task WriteInfoAsync(CancellationToken cancellationToken)
    {
        var info = new RepositoryInfo { Created = DateTimeOffset.UtcNow, CreatedBy = "PgBackupTools " + ToolVersion };
        try
        {
            await using var writer = await Store.CreateAsync(InfoKey, overwrite: false, cancellationToken).ConfigureAwait(false);
            await JsonSerializer.SerializeAsync(writer, info, RepositoryJsonContext.Default.RepositoryInfo, cancellationToken).ConfigureAwait(false);
            await writer.CommitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (ObjectAlreadyExistsException)
        {
            // Another process created it first: same outcome.
        }
    }

    public static string BackupFolder(string stanza, string id) =>
        StorageKey.Combine("backups", RepositoryNames.ValidateStanza(stanza), RepositoryNames.ValidateBackupId(id));

    public static string BackupFileKey(string stanza, string id, string fileName) => StorageKey.Combine(BackupFolder(stanza, id), fileName);

    public async Task WriteManifestAsync(PgBackup backup, CancellationToken cancellationToken)
    {
        await using var writer = await Store.CreateAsync(BackupFileKey(backup.Stanza, backup.Id, ManifestName), overwrite: false, cancellationToken).ConfigureAwait(false);
        await JsonSerializer.SerializeAsync(writer, backup, RepositoryJsonContext.Default.PgBackup, cancellationToken).ConfigureAwait(false);
        await writer.CommitAsync(cancellationToken).ConfigureAwait(false);
        backup.Repository = Location;
    }

    private async Task<PgBackup> ReadManifestAsync(string key, CancellationToken cancellationToken)
    {
        await using var stream = await Store.OpenReadAsync(key, cancellationToken).ConfigureAwait(false);
        var backup = await JsonSerializer.DeserializeAsync(stream, RepositoryJsonContext.Default.PgBackup, cancellationToken).ConfigureAwait(false)
            ?? throw new JsonException("empty manifest");
        backup.Repository = Location;
        return backup;
    }

    /// <summary>Every committed backup, oldest first. An unreadable manifest is reported through <paramref name="context"/> and skipped.</summary>
    public async Task<List<PgBackup>> ListBackupsAsync(string? stanza, OperationContext context)
    {
        string prefix = stanza is null ? "backups/" : $"backups/{RepositoryNames.ValidateStanza(stanza)}/";
        var backups = new List<PgBackup>();
        await foreach (var obj in Store.ListAsync(prefix, context.CancellationToken).ConfigureAwait(false))
        {
            var parts = obj.Key.Split('/');
            if (parts.Length != 4 || parts[3] != ManifestName) continue;
            try
            {
                backups.Add(await ReadManifestAsync(obj.Key, context.CancellationToken).ConfigureAwait(false));
            }
            catch (JsonException e)
            {
                context.Warn($"Skipping {obj.Key}: the manifest is not readable ({e.Message}).");
            }
        }
        return backups.OrderBy(b => b.StartTime).ThenBy(b => b.Id, StringComparer.Ordinal).ToList();
    }

    public async Task<PgBackup> GetBackupAsync(string stanza, string id, CancellationToken cancellationToken)
    {
        try
        {
            return await ReadManifestAsync(BackupFileKey(stanza, id, ManifestName), cancellationToken).ConfigureAwait(false);
        }
        catch (ObjectNotFoundException)
        {
            throw new PgBackupException(FailureKind.NotFound, $"There is no backup '{id}' in stanza '{stanza}' of {Location}. Get-PgBackup lists the backups.", id);
        }
    }

    /// <summary>Best-effort removal of what an unfinished backup wrote (never called once its manifest exists).</summary>
    public async Task DeleteUncommittedAsync(string stanza, string id, CancellationToken cancellationToken)
    {
        var folder = BackupFolder(stanza, id) + "/";
        var keys = new List<string>();
        await foreach (var obj in Store.ListAsync(folder, cancellationToken).ConfigureAwait(false)) keys.Add(obj.Key);
        if (keys.Contains(folder + ManifestName)) return;
        foreach (var key in keys) await Store.DeleteAsync(key, cancellationToken).ConfigureAwait(false);
        if (Store.TryGetLocalPath(BackupFolder(stanza, id)) is { } dir && Directory.Exists(dir))
        {
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
        }
    }
}
