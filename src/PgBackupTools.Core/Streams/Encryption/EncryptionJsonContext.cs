using System.Text.Json.Serialization;

namespace PgBackupTools.Core.Streams.Encryption;

/// <summary>
/// Source-generated JSON metadata for the encryption parameters, so they serialize under Native AOT.
/// A repository.json context that holds <see cref="RepositoryEncryption"/> as a property gets the
/// same shape from its own generator.
/// </summary>
[JsonSourceGenerationOptions(WriteIndented = true, DefaultIgnoreCondition = JsonIgnoreCondition.Never)]
[JsonSerializable(typeof(RepositoryEncryption))]
public sealed partial class EncryptionJsonContext : JsonSerializerContext;
