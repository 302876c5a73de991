using PgBackupTools.Core.Errors;

namespace PgBackupTools.Core.Storage;

/// <summary>Checks object keys so that no key can name anything outside its store ("..", absolute paths, backslashes).</summary>
public static class StorageKey
{
    public static string Validate(string key)
    {
        if (string.IsNullOrEmpty(key) || key.StartsWith('/') || key.Contains('\\') || key.Contains('\0') ||
            key.Split('/').Any(s => s.Length == 0 || s == "." || s == ".."))
            throw new PgBackupException(FailureKind.InvalidArgument, $"'{key}' is not a valid repository key: use relative names without '..', '.' or empty parts.", key);
        return key;
    }

    public static string Combine(params string[] parts) => Validate(string.Join('/', parts));
}
