using System.Collections.Concurrent;

namespace PgBackupTools.Core.Storage;

/// <summary>
/// Builds the store for a location. Options beyond the URL come from a <see cref="PgRepository"/>: the one passed in,
/// else the last one used in this process for the same location (so a PgBackup piped from Get-PgBackup into
/// Test-PgBackup finds the endpoint and credentials again), else the standard environment variables and SDK chains.
/// Options are remembered in memory only, never on disk.
/// </summary>
public static class ObjectStoreFactory
{
    private static readonly ConcurrentDictionary<string, PgRepository> Known = new(StringComparer.Ordinal);

    /// <summary>Remembers <paramref name="options"/> for its location for the rest of this process; returns the canonical location.</summary>
    public static string Register(PgRepository options)
    {
        var location = RepositoryLocation.Parse(options.Location);
        options.Location = location.ToString();
        options.StoreKind = location.Kind;
        if (location.Kind != RepositoryStoreKind.FileSystem) Known[options.Location] = options;
        return options.Location;
    }

    /// <summary>The options remembered for a location, if any.</summary>
    public static PgRepository? Find(string location) =>
        RepositoryLocation.IsUrl(location) && Known.TryGetValue(RepositoryLocation.Parse(location).ToString(), out var o) ? o : null;

    public static IObjectStore Create(string location) => Create(location, null);

    public static IObjectStore Create(string location, PgRepository? options)
    {
        var parsed = RepositoryLocation.Parse(location);
        if (parsed.Kind == RepositoryStoreKind.FileSystem) return new FileSystemStore(parsed.Path);
        options ??= Find(location) ?? new PgRepository { Location = parsed.ToString(), StoreKind = parsed.Kind };
        return parsed.Kind == RepositoryStoreKind.S3 ? new S3Store(parsed, options) : new AzureBlobStore(parsed, options);
    }
}
