"""ModelMuxer on a litellm Router and in the LiteLLM proxy."""
