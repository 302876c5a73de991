using PgBackupTools.Core.Errors;

namespace PgBackupTools.Core.Storage;

/// <summary>
/// The one parser of repository locations: a directory path, "s3://bucket/prefix" or "az://account/container/prefix".
/// The canonical string (<see cref="ToString"/>) is what PgBackup.Repository holds, so it round-trips.
/// </summary>
public sealed record RepositoryLocation(RepositoryStoreKind Kind, string Path, string? Bucket, string? Account, string? Container, string Prefix)
{
    public static bool IsUrl(string location) =>
        location.StartsWith("s3://", StringComparison.OrdinalIgnoreCase) || location.StartsWith("az://", StringComparison.OrdinalIgnoreCase);

    public static RepositoryLocation Parse(string location)
    {
        if (string.IsNullOrWhiteSpace(location))
            throw new PgBackupException(FailureKind.InvalidArgument, "No repository given: pass -Repository with a directory path, s3://bucket/prefix or az://account/container/prefix.");
        if (location.StartsWith("s3://", StringComparison.OrdinalIgnoreCase))
        {
            var parts = Split(location, 5);
            if (parts.Length < 1 || parts[0].Length == 0)
                throw Invalid(location, "s3://bucket/prefix");
            return new RepositoryLocation(RepositoryStoreKind.S3, "", parts[0], null, null, string.Join('/', parts.Skip(1)));
        }
        if (location.StartsWith("az://", StringComparison.OrdinalIgnoreCase))
        {
            var parts = Split(location, 5);
            if (parts.Length < 2 || parts[0].Length == 0 || parts[1].Length == 0)
                throw Invalid(location, "az://account/container/prefix");
            return new RepositoryLocation(RepositoryStoreKind.AzureBlob, "", null, parts[0], parts[1], string.Join('/', parts.Skip(2)));
        }
        if (location.Contains("://", StringComparison.Ordinal))
            throw new PgBackupException(FailureKind.InvalidArgument,
                $"'{location}' is not a supported repository location: use a directory path, s3://bucket/prefix or az://account/container/prefix.", location);
        return new RepositoryLocation(RepositoryStoreKind.FileSystem, System.IO.Path.GetFullPath(location), null, null, null, "");
    }

    private static string[] Split(string location, int schemeLength)
    {
        var rest = location[schemeLength..];
        if (rest.Contains('?') || rest.Contains('#') || rest.Contains('\\'))
            throw new PgBackupException(FailureKind.InvalidArgument, $"'{location}' holds '?', '#' or '\\': give options and credentials with New-PgRepository, not in the location.", location);
        var parts = rest.Split('/', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Any(p => p is "." or ".."))
            throw new PgBackupException(FailureKind.InvalidArgument, $"'{location}' holds '.' or '..' parts.", location);
        return parts;
    }

    private static PgBackupException Invalid(string location, string form) =>
        new(FailureKind.InvalidArgument, $"'{location}' is not a valid repository location: use {form}.", location);

    /// <summary>The key inside the bucket/container of a repository key ("prefix/key").</summary>
    public string ObjectName(string key) => Prefix.Length == 0 ? key : Prefix + "/" + key;

    /// <summary>The prefix to list for repository keys that start with <paramref name="keyPrefix"/>.</summary>
    public string ListPrefix(string keyPrefix) => Prefix.Length == 0 ? keyPrefix : Prefix + "/" + keyPrefix;

    public override string ToString() => Kind switch
    {
        RepositoryStoreKind.S3 => "s3://" + Bucket + (Prefix.Length > 0 ? "/" + Prefix : ""),
        RepositoryStoreKind.AzureBlob => "az://" + Account + "/" + Container + (Prefix.Length > 0 ? "/" + Prefix : ""),
        _ => Path,
    };
}
