namespace PgBackupTools.Core.Streams.Encryption;

/// <summary>Why encrypted data was refused.</summary>
public enum EncryptedDataReason
{
    /// <summary>A chunk's authentication tag did not verify: the data was altered, reordered, or comes from another file.</summary>
    AuthenticationFailed,

    /// <summary>The data ends before its final chunk.</summary>
    Truncated,

    /// <summary>The header is not a PgBackupTools encryption header, or holds impossible values.</summary>
    BadHeader,

    /// <summary>The header names a format version or algorithm this version cannot read.</summary>
    UnsupportedVersion,

    /// <summary>The header's key id is not the key id of the key supplied.</summary>
    WrongKey,
}
